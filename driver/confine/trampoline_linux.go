package confine

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// trampoline sets up the confinement the spec asks for, reports it and
// execs the program. It returns only on failure.
func trampoline(encoded string) int {
	var s spec
	if err := json.Unmarshal([]byte(encoded), &s); err != nil {
		fmt.Fprintln(os.Stderr, "corun-confine: bad spec:", err)
		return 127
	}
	unix.CloseOnExec(s.Report)
	report := os.NewFile(uintptr(s.Report), "report")
	fail := func(err error) int {
		fmt.Fprintf(report, "error %s\n", strconv.Quote(err.Error()))
		fmt.Fprintln(os.Stderr, "corun-confine:", err) // for a failed exec, after the report
		return 127
	}
	// Credentials and the Landlock domain are set on this thread, which
	// then execs: the program gets exactly them.
	runtime.LockOSThread()
	st := s.Status
	if s.Jail != "" {
		if err := buildJail(&s); err != nil {
			return fail(err)
		}
	}
	for _, fd := range s.Userns {
		unix.Close(fd)
	}
	if s.Drop {
		if err := dropTo(st.UID, st.GID); err != nil {
			return fail(err)
		}
		// A change of credentials clears the parent-death signal; the
		// program must still die with whoever started it.
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
			return fail(err)
		}
	}
	abi, err := restrictThread(s.Policy.Policy)
	if err != nil {
		return fail(err)
	}
	st.Landlock = abi
	if s.Policy.NoRandomize {
		// The personality is this thread's, and the exec keeps it.
		cur, err := personality(0xffffffff)
		if err == nil {
			_, err = personality(uintptr(cur) | addrNoRandomize)
		}
		if err != nil {
			return fail(fmt.Errorf("personality: %w", err))
		}
	}
	b, _ := json.Marshal(st)
	fmt.Fprintf(report, "ok %s\n", b)
	return fail(syscall.Exec(s.Path, s.Args, s.Env))
}

// addrNoRandomize is the personality flag that turns off address space
// randomization (linux/personality.h).
const addrNoRandomize = 0x0040000

// personality sets the calling thread's execution domain and returns the
// previous one; 0xffffffff only asks.
func personality(p uintptr) (int, error) {
	r, _, errno := unix.RawSyscall(unix.SYS_PERSONALITY, p, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// dropTo sets the calling thread's uid and gid, with no supplementary
// groups.
func dropTo(uid, gid int) error {
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, 0, 0, 0); e != 0 {
		return fmt.Errorf("setgroups: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(gid), uintptr(gid), uintptr(gid)); e != 0 {
		return fmt.Errorf("setresgid %d: %w", gid, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
		return fmt.Errorf("setresuid %d: %w", uid, e)
	}
	return nil
}
