package driver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/colinux-ng/colinux/driver/console"
	"github.com/colinux-ng/colinux/driver/instance"
)

// stopSequence is the one way a guest is stopped: a graceful request
// (retried while a booting guest cannot take it yet) and up to timeout to
// end; then, with force, a forced request and two seconds; then SIGKILL
// to the monitor's process group. gone waits up to d for the guest's end.
func stopSequence(ctx context.Context, b Backend, inst *Instance, pid int, timeout time.Duration, force bool, gone func(d time.Duration) bool) error {
	if timeout <= 0 {
		timeout = DefaultStopTimeout
	}
	deadline := time.Now().Add(timeout)
	var reqErr error
	for {
		rctx, cancel := context.WithDeadline(ctx, deadline)
		reqErr = b.Stop(rctx, inst, false)
		cancel()
		if reqErr == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		if gone(100 * time.Millisecond) {
			return nil
		}
	}
	if gone(time.Until(deadline)) {
		return nil
	}
	if !force {
		if reqErr != nil {
			return fmt.Errorf("%s: %w; corun stop --force kills it", inst.Name, reqErr)
		}
		return fmt.Errorf("%s did not shut down within %v; corun stop --force halts it", inst.Name, timeout)
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	b.Stop(fctx, inst, true)
	cancel()
	if gone(2 * time.Second) {
		return nil
	}
	killGroup(pid)
	if gone(5 * time.Second) {
		return nil
	}
	return fmt.Errorf("%s: pid %d survived SIGKILL", inst.Name, pid)
}

// Stopped says what Stop found.
type Stopped struct {
	// WasDead: the instance had already ended (killed, crashed); Stop
	// removed what it left. Reason says how it ended, when known.
	WasDead bool
	Reason  string
}

// Stop shuts the instance name down, from any process: gracefully within
// timeout, then, with force, by halting and killing it. It returns once
// the instance is gone and its images are free. A dead instance is
// removed.
func Stop(ctx context.Context, reg instance.Registry, name string, timeout time.Duration, force bool) (Stopped, error) {
	rec, err := reg.Get(name)
	if err != nil {
		return Stopped{}, err
	}
	if rec.State == instance.Dead {
		return Stopped{WasDead: true, Reason: rec.Reason}, reg.Remove(name)
	}
	b, err := Lookup(rec.Monitor)
	if err != nil {
		return Stopped{}, err
	}
	rec.State = instance.Stopping
	if err := reg.Save(rec); err != nil {
		return Stopped{}, err
	}
	// Gone: the last process of the instance has let go of its lock.
	gone := func(d time.Duration) bool {
		until := time.Now().Add(d)
		for {
			cur, err := reg.Get(name)
			if err != nil || cur.State == instance.Dead {
				return true
			}
			if time.Now().After(until) || ctx.Err() != nil {
				return false
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err := stopSequence(ctx, b, &Instance{Name: rec.Name, Dir: rec.Dir}, rec.PID, timeout, force, gone); err != nil {
		return Stopped{}, err
	}
	// The owner removes the instance as it ends; one killed with it
	// leaves the directory.
	if err := reg.Remove(name); err != nil && !errors.Is(err, instance.ErrNotFound) {
		return Stopped{}, err
	}
	return Stopped{}, nil
}

// ErrNoConsole is an instance whose console is not served: one running a
// command, whose output goes to the corun that started it.
var ErrNoConsole = errors.New("runs a command; its output goes to the corun that started it")

// Attach connects in and out to the console of the instance name until the
// guest ends (nil) or the user detaches (console.ErrDetached).
func Attach(reg instance.Registry, name string, in *os.File, out io.Writer) error {
	rec, err := reg.Get(name)
	if err != nil {
		return err
	}
	if rec.State == instance.Dead {
		return fmt.Errorf("%s is dead (%s); corun rm %s removes it", name, DeadReason(rec.Reason), name)
	}
	sock := ConsolePath(rec.Dir)
	if _, err := os.Stat(sock); err != nil {
		return fmt.Errorf("%s %w", name, ErrNoConsole)
	}
	return console.Attach(sock, in, out)
}

// DeadReason says how a dead instance ended: its owner writes the reason
// when the guest fails; a killed owner writes nothing.
func DeadReason(reason string) string {
	if reason == "" {
		return "its corun ended without stopping it"
	}
	return reason
}
