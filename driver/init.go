package driver

import (
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/colinux-ng/colinux/driver/confine"
)

// initName is argv[0] of corun re-executed as the monitor's PID 1.
const initName = "corun-init"

// MaybeInit runs the monitor's PID-1 helper when this process was started
// as one, and never returns then. Programs that run guests (corun, the
// tests of a backend) call it first thing in main or TestMain.
//
// The monitor process cannot be PID 1 of its namespace itself: PID 1
// ignores the signals it sends itself, and User-mode Linux aborts itself
// on a guest panic, which would then hang forever.
func MaybeInit() {
	if len(os.Args) < 3 || os.Args[0] != initName {
		return
	}
	os.Exit(runInit(os.Args[1:]))
}

// runInit starts args[1:] with fds 0…2+args[0] and waits for it, reaping
// whatever else ends up as its child. A confined monitor is started from
// a thread confine.Enter has confined, with the path, arguments and
// environment of its spec. When runInit returns, the host kernel kills
// everything left in the namespace. A monitor killed by a signal is
// reported as 128+signal, as shells do.
func runInit(args []string) int {
	extra, err := strconv.Atoi(args[0])
	if err != nil || extra < 0 {
		fmt.Fprintf(os.Stderr, "%s: bad file count %q\n", initName, args[0])
		return 127
	}
	path, argv, env := args[1], args[1:], os.Environ()
	confined, ok, err := confine.Enter()
	if ok {
		if err != nil {
			if confined != nil {
				confined.Started(err)
			}
			fmt.Fprintf(os.Stderr, "%s: %v\n", initName, err)
			return 127
		}
		path, argv, env = confined.Path, confined.Args, confined.Env
	}
	files := make([]uintptr, 3+extra)
	for i := range files {
		files[i] = uintptr(i)
	}
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Env:   env,
		Files: files,
		// Without a PID namespace (start's fallback) the monitor still
		// dies with this helper.
		Sys: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	})
	if confined != nil {
		confined.Started(err)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %s: %v\n", initName, path, err)
		return 127
	}
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 127
		}
		if got != pid {
			continue
		}
		// User-mode Linux leads a process group of its own, which its
		// helpers share; without a PID namespace, this ends them.
		syscall.Kill(-pid, syscall.SIGKILL)
		if ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	}
}
