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

// Child is the program a confined thread starts (see Enter).
type Child struct {
	Path string
	Args []string
	Env  []string

	report *os.File
	status Status
}

// Enter, in a process started as a Launch says, confines the calling
// goroutine's thread as the spec in its environment asks: the jail, the
// uid drop, Landlock and the personality. The goroutine stays locked to
// the thread for good, and a process this thread starts next (the Child)
// inherits them all; the process's other threads keep their rights.
// This lets the process that must stay beside the program (a PID 1)
// confine it without a second process in between. Enter returns
// ok false when this process carries no spec; on an error the caller
// exits after Child.Started has reported it, if the Child is not nil.
func Enter() (c *Child, ok bool, err error) {
	encoded, ok := os.LookupEnv(envSpec)
	if !ok || encoded == holdMode {
		return nil, false, nil
	}
	var s spec
	if err := json.Unmarshal([]byte(encoded), &s); err != nil {
		return nil, true, fmt.Errorf("bad spec: %w", err)
	}
	unix.CloseOnExec(s.Report)
	c = &Child{Path: s.Path, Args: s.Args, Env: s.Env, report: os.NewFile(uintptr(s.Report), "report"), status: s.Status}
	// Credentials, the Landlock domain and the personality are set on
	// this thread, which then starts the program: it gets exactly them.
	runtime.LockOSThread()
	if s.Jail != "" {
		if err := buildJail(&s); err != nil {
			return c, true, err
		}
	}
	for _, fd := range s.Userns {
		unix.Close(fd)
	}
	if s.Drop {
		if err := dropTo(s.Status.UID, s.Status.GID); err != nil {
			return c, true, err
		}
		// A change of credentials clears the parent-death signal; the
		// program must still die with whoever started this process.
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
			return c, true, err
		}
	}
	abi, err := restrictThread(s.Policy.Policy)
	if err != nil {
		return c, true, err
	}
	c.status.Landlock = abi
	if s.Policy.NoRandomize {
		// The personality is this thread's; its children inherit it.
		cur, err := personality(0xffffffff)
		if err == nil {
			_, err = personality(uintptr(cur) | addrNoRandomize)
		}
		if err != nil {
			return c, true, fmt.Errorf("personality: %w", err)
		}
	}
	return c, true, nil
}

// Started tells Launch.Started that the program runs confined, or why it
// does not (err), and closes the report.
func (c *Child) Started(err error) {
	if err != nil {
		fmt.Fprintf(c.report, "error %s\n", strconv.Quote(err.Error()))
	} else {
		b, _ := json.Marshal(c.status)
		fmt.Fprintf(c.report, "ok %s\n", b)
	}
	c.report.Close()
}

// trampoline confines this process's thread and execs the program in its
// place. It returns only on failure.
func trampoline() int {
	c, _, err := Enter()
	if err == nil {
		c.Started(nil)
		err = syscall.Exec(c.Path, c.Args, c.Env) // returns only on failure, after the report
	} else if c != nil {
		c.Started(err)
	}
	fmt.Fprintln(os.Stderr, "corun-confine:", err)
	return 127
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
