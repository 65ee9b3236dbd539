package uml

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/colinux-ng/colinux/driver"
	"github.com/colinux-ng/colinux/driver/console"
	"github.com/colinux-ng/colinux/driver/mconsole"
	"github.com/colinux-ng/colinux/runtime/coinit"
)

// Monitor boots one Machine under User-mode Linux. It implements
// driver.Monitor.
type Monitor struct {
	Machine *driver.Machine
	// Dir is the instance directory: UML's uml_dir, the hostfs root and
	// the snapshot COW files live there. It must exist.
	Dir string
	// Output receives the guest console; Input, if not nil, feeds it.
	Output io.Writer
	Input  io.Reader
	// Log, if not nil, receives the console and the kernel's own output.
	Log io.Writer
	// Inherit are files the guest process keeps open for its whole life,
	// such as the image locks, so they outlive a killed corun.
	Inherit []*os.File
	// Started is called with the guest process once it runs.
	Started func(pid int)
	// StopTimeout is how long a graceful stop may take before the guest
	// is halted; zero means DefaultStopTimeout.
	StopTimeout time.Duration
}

// DefaultStopTimeout bounds a graceful shutdown.
const DefaultStopTimeout = 10 * time.Second

// MconsolePath returns the mconsole socket of the instance in dir.
func MconsolePath(dir, umid string) string { return filepath.Join(dir, umid, "mconsole") }

// tailBytes of console output are kept for error reports.
const tailBytes = 16 << 10

func (u *Monitor) umid() string { return u.Machine.Name }

// Run boots the guest and waits for it to power off. Cancelling ctx stops
// it: gracefully through mconsole, then by force after StopTimeout.
func (u *Monitor) Run(ctx context.Context) (driver.Result, error) {
	m := u.Machine
	if err := u.prepareHostfs(); err != nil {
		return driver.Result{}, err
	}
	defer u.cleanup()
	stopNetworks, err := u.startNetworks()
	if err != nil {
		return driver.Result{}, err
	}
	defer stopNetworks()

	pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return driver.Result{}, fmt.Errorf("console socket: %w", err)
	}
	conHost, conGuest := os.NewFile(uintptr(pair[0]), "console"), os.NewFile(uintptr(pair[1]), "console-guest")
	defer conHost.Close()
	statusR, statusW, err := os.Pipe()
	if err != nil {
		conGuest.Close()
		return driver.Result{}, err
	}
	defer statusR.Close()

	tail := console.NewTail(tailBytes)
	logw := io.Writer(tail)
	if u.Log != nil {
		logw = io.MultiWriter(tail, u.Log)
	}
	argm, err := u.withX11Initramfs()
	if err != nil {
		conGuest.Close()
		statusW.Close()
		return driver.Result{}, err
	}
	cmd := exec.Command(m.Kernel, args(argm, u.Dir, u.umid())...)
	cmd.Stdout, cmd.Stderr = logw, logw
	cmd.ExtraFiles = append([]*os.File{conGuest, statusW}, u.Inherit...)
	// Its own process group: Ctrl-C at the terminal is corun's to handle.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	conGuest.Close()
	statusW.Close()
	if err != nil {
		return driver.Result{}, &driver.GuestError{Err: driver.ErrKernelStart, Msg: err.Error()}
	}
	if u.Started != nil {
		u.Started(cmd.Process.Pid)
	}

	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		out := io.MultiWriter(u.Output, logw)
		io.Copy(out, conHost)
	}()
	if u.Input != nil {
		go io.Copy(conHost, u.Input)
	}
	var events []coinit.Event
	go func() {
		defer readers.Done()
		sc := bufio.NewScanner(statusR)
		for sc.Scan() {
			if ev, ok := coinit.ParseStatus(sc.Text()); ok {
				events = append(events, ev)
			} else {
				fmt.Fprintln(logw, sc.Text()) // kernel messages in command mode
			}
		}
	}()

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var waitErr error
	stopped := false
	select {
	case waitErr = <-exited:
	case <-ctx.Done():
		stopped = true
		waitErr = u.stop(exited, cmd.Process.Pid)
	}
	// The guest's helper processes may hold the console a moment longer.
	drained := make(chan struct{})
	go func() { readers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(2 * time.Second):
		conHost.Close()
		statusR.Close()
		<-drained
	}
	return u.result(events, waitErr, stopped, tail)
}

// stop shuts the guest down: Ctrl-Alt-Del through mconsole (coinit and
// init systems turn it into a clean shutdown), then halt, then SIGKILL.
func (u *Monitor) stop(exited <-chan error, pid int) error {
	timeout := u.StopTimeout
	if timeout == 0 {
		timeout = DefaultStopTimeout
	}
	sock := MconsolePath(u.Dir, u.umid())
	steps := []struct {
		request string
		wait    time.Duration
	}{{"cad", timeout}, {"halt", 2 * time.Second}}
	for _, s := range steps {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		mconsole.Do(ctx, sock, s.request)
		cancel()
		select {
		case err := <-exited:
			return err
		case <-time.After(s.wait):
		}
	}
	// The whole group: UML's helpers and guest processes too.
	syscall.Kill(-pid, syscall.SIGKILL)
	return <-exited
}

// result interprets how the guest ended.
func (u *Monitor) result(events []coinit.Event, waitErr error, stopped bool, tail *console.Tail) (driver.Result, error) {
	m := u.Machine
	fail := func(sentinel error, msg string) (driver.Result, error) {
		return driver.Result{}, &driver.GuestError{Err: sentinel, Msg: msg, Tail: tail.Lines(20)}
	}
	up := false
	for _, ev := range events {
		switch {
		case ev.Up:
			up = true
		case ev.Err != "":
			return fail(driver.ErrGuestInit, ev.Err)
		case ev.Exited:
			return driver.Result{Exited: true, ExitCode: ev.Code}, nil
		}
	}
	if stopped {
		return driver.Result{}, nil
	}
	if m.Initrd == "" && !up {
		msg := "the kernel exited before coinit ran"
		if waitErr != nil {
			msg = fmt.Sprintf("%s (%v)", msg, waitErr)
		}
		return fail(driver.ErrKernelStart, msg)
	}
	if len(m.Command) > 0 {
		return fail(driver.ErrGuestCrash, "the guest ended before the command reported its exit status")
	}
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		return fail(driver.ErrGuestCrash, waitErr.Error())
	}
	return driver.Result{}, waitErr
}

// withX11Initramfs returns the machine to boot: for an X11 guest, one
// whose initramfs also carries the guest's Xauthority (see
// initramfs.Extend), written to the instance directory.
func (u *Monitor) withX11Initramfs() (*driver.Machine, error) {
	m := u.Machine
	if m.X11 == nil {
		return m, nil
	}
	withAuth := *m
	withAuth.Initramfs = filepath.Join(u.Dir, x11Initramfs)
	if err := m.X11.Initramfs(withAuth.Initramfs, m.Initramfs); err != nil {
		return nil, err
	}
	return &withAuth, nil
}

// prepareHostfs fills the hostfs root with links to what the guest may
// reach: the kernel modules and each cofs share. hostfs resolves paths on
// the host, so a link there leads to its target, while the guest cannot
// name anything else below the root.
func (u *Monitor) prepareHostfs() error {
	root := filepath.Join(u.Dir, hostfsDir)
	if err := os.RemoveAll(root); err != nil {
		return err
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	links := map[string]string{}
	if u.Machine.Modules != "" {
		links[modulesDir] = u.Machine.Modules
	}
	for _, s := range u.Machine.Shares {
		dir, err := filepath.Abs(s.Path)
		if err != nil {
			return err
		}
		links[shareName(s.Index)] = dir
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			return err
		}
	}
	return nil
}

// cleanup removes what Run made in the instance directory.
func (u *Monitor) cleanup() {
	os.RemoveAll(filepath.Join(u.Dir, hostfsDir))
	os.RemoveAll(filepath.Join(u.Dir, u.umid()))
	os.Remove(filepath.Join(u.Dir, x11Initramfs))
	for _, d := range u.Machine.Disks {
		if u.Machine.Snapshot {
			os.Remove(cowFile(u.Dir, d.Index))
		}
	}
}
