// Package umltest gives tests a guest to boot: the installed User-mode
// Linux kernel and a tiny ext4 image made from busybox-static at test time.
package umltest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/colinux-ng/colinux/internal/testutil"
	"github.com/colinux-ng/colinux/pkg/archive"
)

// Kernel is the guest kernel the tests boot.
type Kernel struct {
	Path, Version, Modules string
	// NoRandomize: the kernel must start with address space randomization
	// off (from Linux 6.16 on; see confine.Policy.NoRandomize).
	NoRandomize bool
}

// Mode is how corun should report a kernel of release runs its
// processes: "seccomp" from Linux 6.16 on, which added that mode to UML,
// else "ptrace". It goes by the release, not by the binary as corun does.
func Mode(release string) string {
	if from616(release) {
		return "seccomp"
	}
	return "ptrace"
}

// from616 says whether release is Linux 6.16 or later.
func from616(release string) bool {
	major, rest, _ := strings.Cut(release, ".")
	minor := strings.TrimRightFunc(strings.SplitN(rest, ".", 2)[0], func(r rune) bool { return r < '0' || r > '9' })
	a, _ := strconv.Atoi(major)
	b, _ := strconv.Atoi(minor)
	return a > 6 || a == 6 && b >= 16
}

// BootKernel returns the UML kernel the tests boot: Debian's
// user-mode-linux package on this host, or where that kernel cannot start
// a process (see cannotStart), the newest one in the user's corun runtime
// cache that can (`corun kernel --refresh` fetches one). Without either,
// the test is skipped, saying why.
func BootKernel(t testing.TB) Kernel {
	t.Helper()
	path := testutil.RequireTool(t, "linux.uml")
	probe.once.Do(func() { probe.kernel, probe.why = usableKernel(path) })
	if probe.why != "" {
		t.Skip(probe.why)
	}
	return probe.kernel
}

// usableKernel is installed, or the newest cached kernel, whichever first
// starts a process here; else why none does.
func usableKernel(installed string) (Kernel, string) {
	why := cannotStart(installed)
	if why == "" {
		k, err := describe(installed, "/usr/lib/uml/modules")
		if err != nil {
			return Kernel{}, err.Error()
		}
		return k, ""
	}
	dirs, _ := filepath.Glob(filepath.Join(userRuntime, "*", "linux"))
	sort.Slice(dirs, func(i, j int) bool { // newest package version first
		vi, _ := archive.ParseVersion(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := archive.ParseVersion(filepath.Base(filepath.Dir(dirs[j])))
		return vi.Compare(vj) > 0
	})
	for _, p := range dirs {
		if cannotStart(p) == "" {
			k, err := describe(p, filepath.Join(filepath.Dir(p), "modules"))
			if err == nil {
				return k, ""
			}
		}
	}
	return Kernel{}, why + "; and no kernel in " + userRuntime + " can (corun kernel --refresh fetches one)"
}

// userRuntime is corun's runtime cache of the user running the tests, read
// before a TestMain points XDG_CACHE_HOME elsewhere.
var userRuntime = func() string {
	dir, _ := os.UserCacheDir()
	return filepath.Join(dir, "colinux", "runtime")
}()

// describe reads a kernel's release; its modules are in modules/<release>.
func describe(path, modules string) (Kernel, error) {
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return Kernel{}, fmt.Errorf("%s --version: %v", path, err)
	}
	k := Kernel{Path: path, Version: strings.TrimSpace(string(out))}
	k.NoRandomize = from616(k.Version)
	if dir := filepath.Join(modules, k.Version); isDir(dir) {
		k.Modules = dir
	}
	return k, nil
}

var probe struct {
	once   sync.Once
	kernel Kernel
	why    string
}

// cannotStart boots the UML kernel at path with the host's / as its
// read-only root (hostfs) and /bin/true as init, and says why /bin/true
// did not run, or "" when it did. Bookworm's UML 6.1 boots on a CPU with
// AMX but cannot give a process its registers ("ptrace set fp regs
// failed, errno = 14": the host's XSAVE area is larger than it knows),
// so every guest dies as it starts; newer kernels (sid's 7.2) run there.
func cannotStart(path string) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "mem=128M", "root=/dev/root", "rootfstype=hostfs", "rootflags=/", "ro",
		"init=/bin/true", "con0=fd:0,fd:1", "con=null")
	out, _ := cmd.CombinedOutput()
	if bytes.Contains(out, []byte("exitcode=0x00000000")) { // init exited 0
		return ""
	}
	var why []string // the failure UML reports, and its panic
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "errno =") || strings.Contains(line, "Kernel panic") {
			why = append(why, strings.TrimSpace(line))
		}
	}
	if len(why) == 0 {
		why = []string{"/bin/true did not run"}
	}
	return fmt.Sprintf("%s cannot start a process on this host: %s", path, strings.Join(why, "; "))
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

var applets = []string{"sh", "cat", "echo", "ls", "mount", "umount", "touch", "mkdir", "rm",
	"sleep", "true", "false", "poweroff", "sync", "dd", "test", "grep", "uname", "stat",
	"ifconfig", "ip", "wget", "nc", "nslookup", "head"}

// inittab boots to a long-running init that shuts down cleanly on
// Ctrl-Alt-Del, as a distribution's init does.
const inittab = `::sysinit:/bin/mount -t proc proc /proc
::once:/bin/sleep 100000
::ctrlaltdel:/bin/poweroff
::shutdown:/bin/mount -o remount,ro /
`

// Image builds a 32 MiB ext4 image holding busybox and its applets, an
// init that runs until Ctrl-Alt-Del, and the given extra files.
func Image(t testing.TB, dir string, files map[string]string) string {
	t.Helper()
	busybox := testutil.RequireTool(t, "busybox")
	tree := filepath.Join(dir, "tree")
	for _, d := range []string{"bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "mnt", "root", "lib"} {
		must(t, os.MkdirAll(filepath.Join(tree, d), 0o755))
	}
	data, err := os.ReadFile(busybox)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(tree, "bin/busybox"), data, 0o755))
	for _, a := range applets {
		must(t, os.Symlink("busybox", filepath.Join(tree, "bin", a)))
	}
	must(t, os.Symlink("../bin/busybox", filepath.Join(tree, "sbin/init")))
	files = mapWith(files, "etc/inittab", inittab)
	for name, body := range files {
		p := filepath.Join(tree, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(body), 0o755))
	}
	img := filepath.Join(dir, "test.img")
	testutil.Run(t, "mke2fs", "-q", "-F", "-t", "ext4", "-d", tree, img, "32M")
	must(t, os.RemoveAll(tree))
	return img
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mapWith(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for key, val := range m {
		out[key] = val
	}
	return out
}
