//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/colinux-ng/colinux/driver/confine"
	"github.com/colinux-ng/colinux/driver/uml/umltest"
	"github.com/colinux-ng/colinux/internal/testutil"
)

// noConfinementEnv makes the test binary the wrapper that runs corun as
// on a host that cannot confine anything (see withoutConfinement).
const noConfinementEnv = "CORUN_TEST_NO_CONFINEMENT"

// withoutConfinement, in a user namespace whose root is the host's,
// takes away every confinement corun knows — no new user, mount or PID
// namespace (its limits set to 0, as a locked-down container has them),
// and Landlock ENOSYS (a seccomp filter, as on a kernel without it) —
// then execs argv. It returns only on failure.
func withoutConfinement(argv []string) error {
	for _, limit := range []string{"max_user_namespaces", "max_mnt_namespaces", "max_pid_namespaces"} {
		if err := os.WriteFile("/proc/sys/user/"+limit, []byte("0\n"), 0); err != nil {
			return err
		}
	}
	// The filter is this thread's, and the exec keeps it.
	runtime.LockOSThread()
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.SYS_LANDLOCK_CREATE_RULESET},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&prog)), 0, 0); err != nil {
		return err
	}
	return syscall.Exec(argv[0], argv, os.Environ())
}

// runUnconfinable runs corun through withoutConfinement.
func runUnconfinable(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(self, append([]string{corun}, args...)...)
	cmd.Env = append(os.Environ(), noConfinementEnv+"=1")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// root and nobody keep their ids: corun hands nobody its scratch
	// directories.
	ids := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}, {ContainerID: 65534, HostID: 65534, Size: 1}}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER, UidMappings: ids, GidMappings: ids}
	err = cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// TestSharesNeedConfinement: where nothing can confine the guest kernel,
// corun run with a cofs share refuses to start it (hostfs would open the
// whole host to the guest), unless --unconfined.
func TestSharesNeedConfinement(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the simulated host maps root and nobody into a user namespace")
	}
	t.Parallel()
	dir := t.TempDir()
	img := umltest.Image(t, dir, nil)
	share := filepath.Join(dir, "share")
	if err := os.Mkdir(share, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(share, "in.txt"), []byte("SHARED\n"), 0o644)
	cofs := "cofs0=" + share

	out, errOut, code := runUnconfinable(t, "run", "--snapshot", "--name", "refused", img, kernelArg(t), cofs, "--", "cat", "/mnt/cofs0/in.txt")
	if code != exitFailure || !strings.Contains(errOut, "no confinement") || !strings.Contains(errOut, "--unconfined") || strings.Contains(out, "SHARED") {
		t.Errorf("with a share and no confinement: exit %d, stdout %q, stderr %q; want a refusal", code, out, errOut)
	}
	if _, ok := lsGet(t, "refused"); ok {
		t.Error("the refused guest is listed")
	}

	out, errOut, code = runUnconfinable(t, "run", "--snapshot", "--unconfined", "--json", img, kernelArg(t), cofs, "--", "cat", "/mnt/cofs0/in.txt")
	if code != 0 || !strings.Contains(out, "SHARED") || !strings.Contains(errOut, "--unconfined: the guest kernel runs with all") {
		t.Errorf("--unconfined: exit %d, stdout %q, stderr %q; want the share read, with a warning", code, out, errOut)
	}

}

// TestRunAsUser: corun run by an ordinary user confines the guest kernel
// with what such a user has — Landlock, its own user and mount
// namespaces — and run --json says so; the guest reads and writes its
// share but not a file beside it that the user itself could read, through
// the share or through a hostfs mount of the host's root.
func TestRunAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run corun as nobody")
	}
	t.Parallel()
	// nobody must reach corun, the kernel, the image and its share.
	dir, err := os.MkdirTemp("", "corun-user")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin, share, home := filepath.Join(dir, "corun"), filepath.Join(dir, "share"), filepath.Join(dir, "home")
	exe, err := os.ReadFile(corun)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{os.Chmod(dir, 0o755), os.WriteFile(bin, exe, 0o755), os.Mkdir(share, 0o755), os.Mkdir(home, 0o755),
		os.WriteFile(filepath.Join(share, "in.txt"), []byte("SHARED\n"), 0o644),
		os.WriteFile(filepath.Join(dir, "secret"), []byte("BESIDE\n"), 0o644)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{share, filepath.Join(share, "in.txt"), home, filepath.Join(dir, "secret")} {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	img := umltest.Image(t, dir, nil)
	kernel := kernelArg(t)
	if k := umltest.BootKernel(t); !strings.HasPrefix(k.Path, "/usr/") {
		kernel = "kernel=" + copyKernel(t, k, dir) // from root's runtime cache
	}

	if err := os.Symlink(filepath.Join(dir, "secret"), filepath.Join(share, "link")); err != nil {
		t.Fatal(err)
	}
	script := `cat /mnt/cofs0/in.txt; echo from-the-guest > /mnt/cofs0/out.txt
cat /mnt/cofs0/link
mkdir /h && mount -t hostfs none /h -o ../../../../../../../../.. && cat /h` + dir + `/secret
true`
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "run", "--json", "--snapshot", img, kernel, "cofs0="+share, "--", "sh", "-c", script)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CACHE_HOME=" + filepath.Join(home, "cache"), "XDG_RUNTIME_DIR=" + filepath.Join(home, "run")}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	err = cmd.Run()
	t.Logf("stdout:\n%s\nstderr:\n%s", &stdout, &stderr)
	if err != nil {
		t.Fatalf("corun run as nobody: %v", err)
	}
	if !strings.Contains(stdout.String(), "SHARED\n") || strings.Contains(stdout.String(), "BESIDE") {
		t.Errorf("the guest read the share: %v, the file beside it: %v", strings.Contains(stdout.String(), "SHARED\n"), strings.Contains(stdout.String(), "BESIDE"))
	}
	if b, err := os.ReadFile(filepath.Join(share, "out.txt")); err != nil || string(b) != "from-the-guest\n" {
		t.Errorf("file the guest wrote to its share: %q, %v", b, err)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	var r runReport
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("run --json: %v", err)
	}
	if c := r.Confinement; c == nil || c.Landlock != confine.Probe().Landlock || !c.UserNS || !c.MountNS || c.UID != 65534 {
		t.Errorf("run --json as nobody says the confinement is %+v; want Landlock %d, its own user and mount namespaces, uid 65534", c, confine.Probe().Landlock)
	}
}

// copyKernel copies k into dir as Debian lays a kernel out, dir/bin/linux
// with its modules in dir/lib/uml/modules, for a user who cannot reach k.
func copyKernel(t *testing.T, k umltest.Kernel, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "bin", "linux")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "cp", k.Path, path)
	if k.Modules != "" {
		modules := filepath.Join(dir, "lib", "uml", "modules")
		if err := os.MkdirAll(modules, 0o755); err != nil {
			t.Fatal(err)
		}
		testutil.Run(t, "cp", "-a", k.Modules, modules)
	}
	return path
}
