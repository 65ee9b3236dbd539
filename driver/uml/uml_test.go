package uml

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/colinux-ng/colinux/driver"
	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/confine"
	"github.com/colinux-ng/colinux/driver/instance"
	"github.com/colinux-ng/colinux/driver/uml/umltest"
	"github.com/colinux-ng/colinux/driver/x11"
	"github.com/colinux-ng/colinux/pkg/cobd"
	"github.com/colinux-ng/colinux/runtime/initramfs"
)

// bootLimit bounds a test guest's whole run: a hung guest still ends the
// test, while a loaded 2-core host (a UML boot there takes tens of seconds)
// does not.
const bootLimit = 4 * time.Minute

func TestMain(m *testing.M) {
	driver.MaybeInit() // the monitor's PID 1 is this binary, re-executed,
	confine.Init()     // and the holder of idmapping namespaces where cat is missing
	os.Exit(m.Run())
}

// boot runs m to the end with the installed kernel and the embedded coinit, returning the result and the console output.
func boot(t *testing.T, m *config.Config) (driver.Result, string, error) {
	t.Helper()
	return bootWith(t, m, "", nil)
}

// bootWith boots with another kernel binary, if not "", through the
// driver, as corun does.
func bootWith(t *testing.T, m *config.Config, kernel string, display *x11.Forwarder) (driver.Result, string, error) {
	t.Helper()
	k := umltest.BootKernel(t)
	if kernel != "" {
		k.Path = kernel
	}
	cache := filepath.Join(os.TempDir(), "corun-uml-test")
	m.Kernel, m.KernelVersion, m.Modules, m.KernelNoRandomize = k.Path, k.Version, k.Modules, k.NoRandomize
	var err error
	m.Initramfs, err = initramfs.Cached(cache)
	if err != nil {
		t.Fatal(err)
	}
	if m.Root == "" {
		m.Root = cobd.RootDevice
	}
	if m.Name == "" {
		m.Name = strings.ReplaceAll(t.Name(), "/", "-")
	}
	if err := driver.Prepare(m); err != nil {
		t.Fatal(err)
	}
	// A short path keeps UML's socket names within the unix limit.
	dir, err := os.MkdirTemp("", "uml")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), bootLimit)
	defer cancel()
	start := time.Now()
	res, err := driver.Run(ctx, m, driver.Options{Registry: instance.Registry{Dir: dir}, Output: &out, X11: display})
	t.Logf("boot took %v", time.Since(start))
	return res, out.String(), err
}

func TestCommandExitStatus(t *testing.T) {
	t.Parallel()
	img := umltest.Image(t, t.TempDir(), nil)
	for _, code := range []string{"0", "3"} {
		res, out, err := boot(t, &config.Config{
			Disks:   []config.Disk{{Index: 0, Path: img}},
			Command: []string{"sh", "-c", "echo hello from $(uname -s); exit " + code},
		})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Exited || res.ExitCode != map[string]int{"0": 0, "3": 3}[code] {
			t.Errorf("exit %s: got %+v", code, res)
		}
		if !strings.Contains(out, "hello from Linux\n") {
			t.Errorf("output %q lacks the command's line", out)
		}
	}
}

func TestReadOnlyDisk(t *testing.T) {
	t.Parallel()
	img := umltest.Image(t, t.TempDir(), nil)
	res, out, err := boot(t, &config.Config{
		Disks:   []config.Disk{{Index: 0, Path: img, ReadOnly: true}},
		Command: []string{"sh", "-c", "touch /written && echo WROTE; dd if=/dev/zero of=" + cobd.RootDevice + " count=1 2>/dev/null && echo RAW"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "WROTE") || strings.Contains(out, "RAW") || res.ExitCode == 0 {
		t.Errorf("the guest wrote to a read-only cobd: %+v %q", res, out)
	}
}

// TestSysfsMode: sysfs=ro gives the guest a read-only /sys (systemd then
// runs without udev); by default it is writable.
func TestSysfsMode(t *testing.T) {
	t.Parallel()
	img := umltest.Image(t, t.TempDir(), nil)
	for _, ro := range []bool{false, true} {
		res, out, err := boot(t, &config.Config{
			Disks:         []config.Disk{{Index: 0, Path: img, ReadOnly: true}},
			SysfsReadOnly: ro,
			Command:       []string{"sh", "-c", "grep '^sysfs /sys ' /proc/mounts"},
		})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("ro=%v: %+v %v %q", ro, res, err, out)
		}
		if got := strings.Contains(out, " ro,"); got != ro {
			t.Errorf("ro=%v: /sys mounted as %q", ro, out)
		}
	}
}

func TestSnapshotLeavesImage(t *testing.T) {
	t.Parallel()
	img := umltest.Image(t, t.TempDir(), nil)
	before, _ := os.ReadFile(img)
	res, out, err := boot(t, &config.Config{
		Disks:    []config.Disk{{Index: 0, Path: img}},
		Snapshot: true,
		Command:  []string{"sh", "-c", "echo data > /snap && cat /snap && rm /bin/ls"},
	})
	if err != nil || res.ExitCode != 0 || !strings.Contains(out, "data") {
		t.Fatalf("%+v %q %v", res, out, err)
	}
	after, _ := os.ReadFile(img)
	if !bytes.Equal(before, after) {
		t.Error("--snapshot changed the image")
	}
}

func TestShareConfined(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	img := umltest.Image(t, dir, nil)
	share := filepath.Join(dir, "share")
	os.MkdirAll(share, 0o755)
	os.WriteFile(filepath.Join(share, "in.txt"), []byte("from host\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "secret"), []byte("outside\n"), 0o644)
	ro := filepath.Join(dir, "ro")
	os.MkdirAll(ro, 0o755)
	script := `cat /mnt/cofs0/in.txt > /mnt/cofs0/out.txt
cat /mnt/cofs0/../secret /mnt/cofs0/../../secret 2>/dev/null && echo ESCAPED
ls /data/ >/dev/null && echo SAW-RO
touch /data/x 2>/dev/null && echo WROTE-RO
exit 0`
	res, out, err := boot(t, &config.Config{
		Disks: []config.Disk{{Index: 0, Path: img}},
		Shares: []config.Share{{Index: 0, Path: share, Target: "/mnt/cofs0"},
			{Index: 1, Path: ro, Target: "/data", ReadOnly: true}},
		Command: []string{"sh", "-c", script},
	})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("%+v %q %v", res, out, err)
	}
	got, err := os.ReadFile(filepath.Join(share, "out.txt"))
	if err != nil || string(got) != "from host\n" {
		t.Errorf("file back from the guest: %q, %v", got, err)
	}
	if strings.Contains(out, "outside") || strings.Contains(out, "ESCAPED") {
		t.Errorf("the guest reached a file outside the share: %q", out)
	}
	if !strings.Contains(out, "SAW-RO") || strings.Contains(out, "WROTE-RO") {
		t.Errorf("read-only share: %q", out)
	}
	if _, err := os.Stat(filepath.Join(ro, "x")); err == nil {
		t.Error("the guest wrote to a read-only share")
	}
}

func TestKernelDoesNotStart(t *testing.T) {
	t.Parallel()
	img := umltest.Image(t, t.TempDir(), nil)
	m := &config.Config{Disks: []config.Disk{{Index: 0, Path: img}}, Command: []string{"true"}}
	_, _, err := bootWith(t, m, "/bin/false", nil)
	if !errors.Is(err, driver.ErrKernelStart) {
		t.Errorf("want ErrKernelStart, got %v", err)
	}
}

func TestGuestCrash(t *testing.T) {
	t.Parallel()
	img := umltest.Image(t, t.TempDir(), nil)
	_, _, err := boot(t, &config.Config{
		Disks:   []config.Disk{{Index: 0, Path: img}},
		Command: []string{"sh", "-c", "echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger"},
	})
	var ge *driver.GuestError
	if !errors.As(err, &ge) || !errors.Is(err, driver.ErrGuestCrash) {
		t.Fatalf("want a guest crash, got %v", err)
	}
	if ge.Msg != "the guest kernel panicked" || !strings.Contains(ge.Tail, "Kernel panic - not syncing: sysrq triggered crash") {
		t.Errorf("the error does not say the kernel panicked, and why: %q\n%s", ge.Msg, ge.Tail)
	}
}
