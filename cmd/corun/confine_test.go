//go:build linux

package main

import (
	"bytes"
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

	"github.com/colinux-ng/colinux/driver/uml/umltest"
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
