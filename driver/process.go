package driver

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/confine"
)

// Process is the monitor process a backend asks the driver to start.
type Process struct {
	Path   string
	Args   []string // without argv[0]
	Env    []string // nil: corun's environment
	Dir    string   // working directory; "" is corun's
	Stdout io.Writer
	Stderr io.Writer
	// ExtraFiles become fd 3, 4, … in the order given; the driver adds
	// the instance's locks after them.
	ExtraFiles []*os.File
	// Policy is all the process may reach on the host (see start); nil
	// starts it unconfined.
	Policy *confine.Policy
}

// MonitorUID is the host uid the monitor process of cfg will run as
// (files and TAP devices made for it belong to it).
func MonitorUID(cfg *config.Config) int {
	if cfg.Unconfined {
		return os.Geteuid()
	}
	return confine.Probe().UID
}

// Proc is a started monitor process.
type Proc struct {
	// Pid is the monitor's PID-1 helper, which leads the process group
	// of the monitor and everything it starts.
	Pid  int
	done chan struct{}
	err  error
}

// Wait waits for the monitor process to end and returns how it ended.
func (p *Proc) Wait() error {
	<-p.done
	return p.err
}

// Done is closed when the monitor process has ended and every process it
// started is gone.
func (p *Proc) Done() <-chan struct{} { return p.done }

// start is the one place the driver starts a monitor process: every guest
// kernel, whatever the backend, runs with these guarantees:
//
//   - it dies with corun (PR_SET_PDEATHSIG), so a killed corun leaves no
//     guest behind;
//   - it leads its own process group (Ctrl-C at the terminal is corun's to
//     handle) and, where the host allows, runs in its own PID namespace
//     under a small PID 1 (corun itself, see MaybeInit), so that when it
//     ends the host kernel ends every process it forked (UML's helpers and
//     its guest processes too) — even when corun was killed first;
//   - it inherits the instance's locks (inherit), which thus last exactly
//     as long as some process of the instance;
//   - it is confined to p.Policy (driver/confine: Landlock, a mount
//     namespace holding only the policy's paths, and as root an
//     unprivileged uid), unless unconfined; the Status says what holds.
//     Where nothing can confine it, a process that must be confined is
//     not started (ErrUnconfined).
func start(p Process, inherit []*os.File, unconfined, mustConfine bool) (*Proc, confine.Status, error) {
	proc, st, err := startWith(p, inherit, unconfined, mustConfine, true)
	if errors.Is(err, errNamespaces) {
		// No namespaces here (a container, a locked-down sysctl): the
		// process group is what is left to kill helpers by, Landlock what
		// is left to confine the process.
		proc, st, err = startWith(p, inherit, unconfined, mustConfine, false)
	}
	return proc, st, err
}

// errNamespaces marks a start that failed for want of namespaces.
var errNamespaces = errors.New("cannot create namespaces")

func startWith(p Process, inherit []*os.File, unconfined, mustConfine, namespaces bool) (*Proc, confine.Status, error) {
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	st := confine.Status{UID: os.Geteuid(), GID: os.Getegid()}
	p.ExtraFiles = append(append([]*os.File(nil), p.ExtraFiles...), inherit...)
	monitorFiles := len(p.ExtraFiles)
	confined := !unconfined && p.Policy != nil
	var plan confine.Status
	if confined {
		plan = confine.Plan(namespaces)
	}
	if mustConfine && !unconfined && !plan.Confined() {
		return nil, st, ErrUnconfined
	}
	var l *confine.Launch
	if confined {
		// The PID-1 helper confines its own thread and starts the
		// monitor from it (confine.Enter): one re-execution of corun.
		var err error
		l, err = confine.Wrap(*p.Policy, plan, p.Path, append([]string{p.Path}, p.Args...), p.Env, 3+monitorFiles)
		if err != nil {
			if namespaces { // as root: the user namespaces of idmapped mounts
				err = fmt.Errorf("%w: %w", errNamespaces, err)
			}
			return nil, st, err
		}
		defer l.Close()
		// The monitor's arguments stay on the helper's command line, for
		// ps; the helper takes them from its spec.
		p.Env = l.Env
		p.ExtraFiles = append(p.ExtraFiles, l.ExtraFiles...)
		attr.Cloneflags, attr.UidMappings, attr.GidMappings = l.Cloneflags, l.UidMappings, l.GidMappings
	}
	if namespaces {
		withPIDNamespace(attr)
	}
	cmd := p.command(attr, monitorFiles)
	if err := cmd.Start(); err != nil {
		if namespaces {
			err = fmt.Errorf("%w: %w", errNamespaces, err)
		}
		return nil, st, err
	}
	proc := &Proc{Pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		proc.err = cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code > 128 && code < 128+65 {
			sig := syscall.Signal(code - 128)
			proc.err = fmt.Errorf("the monitor was killed by signal %d (%v): %w", int(sig), sig, proc.err)
		}
		// Without a PID namespace, helpers outlive the monitor process.
		killGroup(proc.Pid)
		close(proc.done)
	}()
	if l != nil {
		var err error
		if st, err = l.Started(); err != nil {
			<-proc.done
			return nil, st, err
		}
	}
	return proc, st, nil
}

// command runs p under the PID-1 helper (see MaybeInit), which passes
// the first monitorFiles of p.ExtraFiles on to the monitor.
func (p Process) command(attr *syscall.SysProcAttr, monitorFiles int) *exec.Cmd {
	self, err := os.Executable()
	if err != nil {
		self = "/proc/self/exe"
	}
	cmd := exec.Command(self, append([]string{strconv.Itoa(monitorFiles), p.Path}, p.Args...)...)
	cmd.Args[0] = initName
	cmd.Env, cmd.Dir = p.Env, p.Dir
	cmd.Stdout, cmd.Stderr = p.Stdout, p.Stderr
	cmd.ExtraFiles = p.ExtraFiles
	cmd.SysProcAttr = attr
	return cmd
}

// withPIDNamespace makes the process PID 1 of a new PID namespace: as
// root directly, otherwise inside a user namespace — confinement's, or
// one that maps the caller's own uid and gid to themselves (so files keep
// their owner).
func withPIDNamespace(attr *syscall.SysProcAttr) {
	attr.Cloneflags |= syscall.CLONE_NEWPID
	if os.Geteuid() == 0 || attr.Cloneflags&syscall.CLONE_NEWUSER != 0 {
		return
	}
	attr.Cloneflags |= syscall.CLONE_NEWUSER
	attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: os.Getuid(), HostID: os.Getuid(), Size: 1}}
	attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: os.Getgid(), HostID: os.Getgid(), Size: 1}}
}

// killGroup sends SIGKILL to the process group led by pid. The kernel
// does not reuse pid for a new process while the group exists.
func killGroup(pid int) { syscall.Kill(-pid, syscall.SIGKILL) }
