package qemu

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/colinux-ng/colinux/driver"
	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/confine"
	conet "github.com/colinux-ng/colinux/driver/net"
	"github.com/colinux-ng/colinux/driver/qemu/qemutest"
	"github.com/colinux-ng/colinux/driver/uml/umltest"
	"github.com/colinux-ng/colinux/internal/testutil"
	"github.com/colinux-ng/colinux/pkg/cobd"
	"github.com/colinux-ng/colinux/runtime"
	"github.com/colinux-ng/colinux/runtime/initramfs"
)

func TestMain(m *testing.M) {
	driver.MaybeInit() // the monitor's PID 1 is this binary, re-executed,
	confine.Init()     // and the holder of idmapping namespaces where cat is missing
	// The suite runs on TCG, which every host has: a KVM that passes the
	// probe can still fail to boot Linux (nested setups), and the
	// checks are about corun's devices, not the accelerator.
	if os.Getenv(AccelEnv) == "" {
		os.Setenv(AccelEnv, "tcg")
	}
	os.Exit(m.Run())
}

// guest returns the cloud kernel from the runtime cache (see qemutest)
// and corun's initramfs.
func guest(t *testing.T) (runtime.Kernel, string) {
	t.Helper()
	testutil.RequireTool(t, Binary())
	testutil.RequireTool(t, "qemu-img")
	k := qemutest.Kernel(t, cache(t))
	arc, err := initramfs.Cached(cache(t).Dir)
	if err != nil {
		t.Fatal(err)
	}
	return k, arc
}

func cache(t *testing.T) runtime.Cache {
	t.Helper()
	c, err := runtime.DefaultCache()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// boot runs cfg to the end through the driver, as corun does, and
// returns the result, the console output and the driver's registry dir.
func boot(t *testing.T, cfg *config.Config, stopAfter time.Duration) (driver.Result, string, error) {
	t.Helper()
	return bootWith(t, cfg, stopAfter, driver.Options{})
}

// bootWith boots with opts' registry (a temporary one if unset), X11
// display and Ready callback; output and log are the test's.
func bootWith(t *testing.T, cfg *config.Config, stopAfter time.Duration, opts driver.Options) (driver.Result, string, error) {
	t.Helper()
	k, arc := guest(t)
	cfg.Monitor = Name
	cfg.Kernel, cfg.KernelVersion, cfg.Modules, cfg.Initramfs = k.Path, k.Release, k.Modules, arc
	if cfg.Root == "" {
		cfg.Root = cobd.RootDevice
	}
	if cfg.Name == "" {
		cfg.Name = strings.ReplaceAll(t.Name(), "/", "-")
	}
	if err := driver.Prepare(cfg); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var out, log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if stopAfter > 0 {
		ctx, cancel = context.WithTimeout(ctx, stopAfter)
		defer cancel()
	}
	start := time.Now()
	logFile := dir + "/log"
	if opts.Registry.Dir == "" {
		opts.Registry.Dir = dir
	}
	opts.Output, opts.LogFile = &out, logFile
	res, err := driver.Run(ctx, cfg, opts)
	t.Logf("boot took %v", time.Since(start))
	if b, _ := os.ReadFile(logFile); t.Failed() || err != nil {
		log.Write(b)
		t.Logf("log:\n%s", log.String())
	}
	return res, out.String(), err
}

// TestCommand: a command's output and exit status, two CPUs, and a
// --snapshot run that leaves the image as it was.
func TestCommand(t *testing.T) {
	t.Parallel()
	k, _ := guest(t)
	img := umltest.Image(t, t.TempDir(), nil)
	before, _ := os.ReadFile(img)
	res, out, err := boot(t, &config.Config{
		Disks: []config.Disk{{Index: 0, Path: img}}, CPUs: 2, Snapshot: true,
		Command: []string{"sh", "-c", "echo hello from $(uname -r) on $(busybox nproc) cpus; echo x > /written; rm /bin/ls; exit 3"},
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Exited || res.ExitCode != 3 {
		t.Errorf("got %+v, want exit status 3", res)
	}
	if want := "hello from " + k.Release + " on 2 cpus\n"; !strings.Contains(out, want) {
		t.Errorf("output %q lacks %q", out, want)
	}
	if after, _ := os.ReadFile(img); !bytes.Equal(before, after) {
		t.Error("--snapshot changed the image")
	}
}

// TestNetwork: DHCP, the host's loopback through the gateway, a
// published port.
func TestNetwork(t *testing.T) {
	t.Parallel()
	img := umltest.Image(t, t.TempDir(), map[string]string{"etc/resolv.conf": ""})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello from the host\n") })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	pl, _ := net.Listen("tcp", "127.0.0.1:0")
	published := pl.Addr().(*net.TCPAddr).Port
	pl.Close()
	script := fmt.Sprintf("ifconfig eth0\nwget -q -O - http://%s:%d/\necho published-ok | nc -l -p 8080\n", conet.Gateway, ln.Addr().(*net.TCPAddr).Port)
	cfg := &config.Config{
		Disks: []config.Disk{{Index: 0, Path: img}},
		NICs: []config.NIC{{Index: 0, Mode: config.Slirp,
			Forwards: []config.Forward{{Proto: "tcp", HostPort: published, GuestPort: 8080}}}},
		Command: []string{"sh", "-c", script},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	got := make(chan string, 1)
	go func() {
		for {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", published), time.Second)
			if err == nil {
				c.SetDeadline(time.Now().Add(5 * time.Second))
				line, rerr := bufio.NewReader(c).ReadString('\n')
				c.Close()
				if rerr == nil {
					got <- line
					return
				}
			}
			select {
			case <-ctx.Done():
				got <- "nothing served"
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	res, out, err := boot(t, cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Errorf("guest command failed: %+v\n%s", res, out)
	}
	for _, want := range []string{"inet addr:" + conet.GuestIP, "hello from the host"} {
		if !strings.Contains(out, want) {
			t.Errorf("guest output lacks %q:\n%s", want, out)
		}
	}
	if line := <-got; line != "published-ok\n" {
		t.Errorf("published port: got %q", line)
	}
}

// TestStop boots the image's init and stops it as corun does: the guest
// shuts down cleanly and its filesystem checks clean.
func TestStop(t *testing.T) {
	t.Parallel()
	e2fsck := testutil.RequireTool(t, "e2fsck")
	img := umltest.Image(t, t.TempDir(), nil)
	start := time.Now()
	res, _, err := boot(t, &config.Config{Disks: []config.Disk{{Index: 0, Path: img}}}, 45*time.Second)
	if err != nil || res.Exited {
		t.Fatalf("stopped guest: %+v, %v", res, err)
	}
	if d := time.Since(start); d > 45*time.Second+driver.DefaultStopTimeout {
		t.Errorf("stop took until %v: the guest did not shut down on its own", d)
	}
	if out, err := exec.Command(e2fsck, "-fn", img).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn after stop: %v\n%s", err, out)
	}
}

// TestCrash: a guest kernel panic is reported as a crash, through
// QEMU's GUEST_PANICKED event.
func TestCrash(t *testing.T) {
	t.Parallel()
	img := umltest.Image(t, t.TempDir(), nil)
	_, _, err := boot(t, &config.Config{
		Disks:   []config.Disk{{Index: 0, Path: img}},
		Command: []string{"sh", "-c", "echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger"},
	}, 0)
	var ge *driver.GuestError
	if !errors.As(err, &ge) || !errors.Is(err, driver.ErrGuestCrash) {
		t.Fatalf("want a guest crash, got %v", err)
	}
	if !strings.Contains(ge.Msg, "panicked") {
		t.Errorf("crash message %q does not say the kernel panicked", ge.Msg)
	}
}

// TestPrepare: cofs without a virtiofsd is refused before anything
// starts.
func TestPrepare(t *testing.T) {
	err := Backend{}.Prepare(&config.Config{Shares: []config.Share{{Index: 0, Path: "/tmp"}}})
	if !errors.Is(err, ErrNoVirtiofsd) {
		t.Errorf("cofs: %v, want ErrNoVirtiofsd", err)
	}
}

// TestCofs: a share read and written through virtiofs, nothing outside
// it reachable, and a ,ro share that refuses writes even when the guest
// remounts it read-write (virtiofsd --readonly on the host side).
func TestCofs(t *testing.T) {
	t.Parallel()
	vfs := qemutest.Virtiofsd(t, cache(t))
	dir := t.TempDir()
	img := umltest.Image(t, dir, nil)
	share := filepath.Join(dir, "share")
	ro := filepath.Join(dir, "ro")
	for _, d := range []string{share, ro} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(share, "in.txt"), []byte("from host\n"), 0o644)
	os.WriteFile(filepath.Join(ro, "ro.txt"), []byte("read-only\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "secret"), []byte("outside\n"), 0o644)
	script := `cat /mnt/cofs0/in.txt > /mnt/cofs0/out.txt
cat /mnt/cofs0/../secret /mnt/cofs0/../../secret 2>/dev/null && echo ESCAPED
cat /data/ro.txt
touch /data/x 2>/dev/null && echo WROTE-RO
mount -o remount,rw /data 2>/dev/null; touch /data/y 2>/dev/null && echo WROTE-REMOUNTED
exit 0`
	res, out, err := boot(t, &config.Config{
		Disks: []config.Disk{{Index: 0, Path: img}}, Virtiofsd: vfs,
		Shares: []config.Share{{Index: 0, Path: share, Target: "/mnt/cofs0"},
			{Index: 1, Path: ro, Target: "/data", ReadOnly: true}},
		Command: []string{"sh", "-c", script},
	}, 0)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("%+v %q %v", res, out, err)
	}
	if got, err := os.ReadFile(filepath.Join(share, "out.txt")); err != nil || string(got) != "from host\n" {
		t.Errorf("file back from the guest: %q, %v", got, err)
	}
	if strings.Contains(out, "outside") || strings.Contains(out, "ESCAPED") {
		t.Errorf("the guest reached a file outside the share: %q", out)
	}
	if !strings.Contains(out, "read-only\n") || strings.Contains(out, "WROTE-") {
		t.Errorf("read-only share: %q", out)
	}
	for _, f := range []string{"x", "y"} {
		if _, err := os.Stat(filepath.Join(ro, f)); err == nil {
			t.Errorf("the guest wrote %s to a read-only share", f)
		}
	}
}
