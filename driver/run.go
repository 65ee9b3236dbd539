package driver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/confine"
	"github.com/colinux-ng/colinux/driver/console"
	"github.com/colinux-ng/colinux/driver/instance"
	"github.com/colinux-ng/colinux/driver/x11"
	"github.com/colinux-ng/colinux/internal/lazyregexp"
)

// Instance is a guest being run, as a backend sees it.
type Instance struct {
	Name string
	Dir  string // the instance directory, for the monitor's sockets and scratch files
	// Config is the guest; nil in Stop and Status.
	Config *config.Config
	// Output receives the guest console; Input, if not nil, feeds it.
	Output io.Writer
	Input  io.Reader
	// Log receives the console and the monitor's own output; never nil.
	Log io.Writer
	// X11, set when Config.X11 is, serves the host's display to the guest
	// on X11NIC's gateway.
	X11 *x11.Forwarder
	// Confinement is what confines the monitor process once Start has
	// started it.
	Confinement confine.Status

	mu       sync.Mutex
	proc     *Proc
	stopping bool
	inherit  []*os.File
	started  func(pid int)
}

// ErrStopped is returned by Start when the guest was stopped before its
// monitor process could start.
var ErrStopped = errors.New("stopped before the guest started")

// Start starts the instance's monitor process (see start for what every
// monitor process gets). A backend calls it once.
func (i *Instance) Start(p Process) (*Proc, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	switch {
	case i.stopping:
		return nil, ErrStopped
	case i.proc != nil:
		return nil, errors.New("driver: monitor process started twice")
	}
	// A monitor with cofs shares runs confined, or with --unconfined.
	proc, st, err := start(p, i.inherit, i.Config.Unconfined, len(i.Config.Shares) > 0)
	if err != nil {
		return nil, err
	}
	i.proc, i.Confinement = proc, st
	if i.started != nil {
		i.started(proc.Pid)
	}
	return proc, nil
}

// Options say how corun runs a guest.
type Options struct {
	Registry instance.Registry
	// Output and Input are the console when it is not served.
	Output io.Writer
	Input  io.Reader
	// Serve serves the console on ConsolePath instead: a guest in the
	// background, which corun attach connects to. When such a guest
	// ends unexpectedly its instance is kept, dead, for corun ls to show.
	Serve bool
	// LogFile, if set, receives the console and the monitor's output.
	LogFile string
	// StopTimeout is how long a graceful stop may take when ctx is
	// cancelled before the guest is halted; 0 is DefaultStopTimeout.
	StopTimeout time.Duration
	// Ready is called with the instance name once the monitor answers.
	Ready func(name string)
	// X11 is the display offered to an x11=on guest; nil is the one
	// $DISPLAY names.
	X11 *x11.Forwarder
}

// DefaultStopTimeout bounds a graceful shutdown.
const DefaultStopTimeout = 10 * time.Second

// ConsolePath is the console socket of a served instance.
func ConsolePath(dir string) string { return filepath.Join(dir, "console.sock") }

// Run boots the guest cfg describes (after Prepare) and returns when it
// has ended. Cancelling ctx stops it: gracefully, then by force after
// the stop timeout.
func Run(ctx context.Context, cfg *config.Config, opts Options) (Result, error) {
	b, err := Lookup(cfg.Monitor)
	if err != nil {
		return Result{}, err
	}
	reg := opts.Registry
	claim, err := claimName(reg, cfg)
	if err != nil {
		return Result{}, err
	}
	cfg.Name = claim.Name
	keep := false
	defer func() { claim.Release(keep) }()
	locks, err := lockImages(reg, cfg)
	if err != nil {
		return Result{}, err
	}
	defer closeAll(locks)

	inst := &Instance{Name: claim.Name, Dir: claim.Dir, Config: cfg, Output: opts.Output, Input: opts.Input,
		Log: io.Discard, inherit: append([]*os.File{claim.Lock()}, locks...)}
	if inst.Output == nil {
		inst.Output = io.Discard
	}
	if opts.Serve {
		srv, err := console.Listen(ConsolePath(claim.Dir))
		if err != nil {
			return Result{}, err
		}
		defer srv.Close()
		inst.Output, inst.Input = srv, srv.Input
	}
	if opts.LogFile != "" {
		f, err := os.OpenFile(opts.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return Result{}, err
		}
		defer f.Close()
		inst.Log = f
	}
	if cfg.X11 {
		inst.X11 = opts.X11
		if inst.X11 == nil {
			if inst.X11, err = x11.New(os.Getenv("DISPLAY"), x11.AuthorityFile()); err != nil {
				return Result{}, err
			}
		}
		inst.X11.Log = inst.Log
	}
	// The network libraries report through the standard and logrus
	// loggers; their messages belong in the log, not on the console.
	log.SetOutput(inst.Log)
	logrus.SetOutput(inst.Log)

	rec := instance.Record{Name: claim.Name, Monitor: monitorName(cfg), Kernel: cfg.KernelVersion, KernelMode: cfg.KernelMode, Owner: os.Getpid(), Image: Image(cfg),
		Started: time.Now(), State: instance.Starting}
	if err := reg.Save(rec); err != nil {
		return Result{}, err
	}
	var recMu sync.Mutex // rec, between this goroutine and running's
	inst.started = func(pid int) {
		recMu.Lock()
		rec.PID, rec.Confinement = pid, &inst.Confinement
		reg.Save(rec)
		recMu.Unlock()
		go func() {
			answered, ended := running(b, inst, readyWait)
			if ended {
				return
			}
			if answered {
				recMu.Lock()
				if cur, err := reg.Get(claim.Name); err == nil && cur.State == instance.Starting {
					rec.State = instance.Running
					reg.Save(rec)
				}
				recMu.Unlock()
			} else {
				fmt.Fprintf(inst.Log, "corun: the monitor of %s has not answered for %v; it stays \"starting\"\n", claim.Name, readyWait)
			}
			if opts.Ready != nil {
				opts.Ready(claim.Name)
			}
		}()
	}

	type outcome struct {
		res Result
		err error
	}
	ended := make(chan outcome, 1)
	go func() {
		res, err := b.Run(ctx, inst)
		ended <- outcome{res, err}
	}()
	var out outcome
	select {
	case out = <-ended:
	case <-ctx.Done():
		inst.mu.Lock()
		inst.stopping = true
		proc := inst.proc
		inst.mu.Unlock()
		if proc != nil {
			recMu.Lock()
			rec.State = instance.Stopping
			reg.Save(rec)
			recMu.Unlock()
			gone := func(d time.Duration) bool {
				select {
				case <-proc.Done():
					return true
				case <-time.After(d):
					return false
				}
			}
			stopSequence(context.Background(), b, inst, proc.Pid, opts.StopTimeout, true, gone)
		}
		out = <-ended
		return inst.result(out.res), out.err
	}
	// A guest in the background that ended on its own, not by a poweroff
	// or corun stop, stays listed as dead, with the reason.
	if out.err != nil && opts.Serve {
		recMu.Lock()
		if cur, err := reg.Get(claim.Name); err == nil && cur.State != instance.Stopping {
			rec.State, rec.Reason = instance.Dead, firstLine(out.err.Error())
			keep = reg.Save(rec) == nil
		}
		recMu.Unlock()
	}
	return inst.result(out.res), out.err
}

// result is res with the confinement of the instance's monitor process,
// if one was started.
func (i *Instance) result(res Result) Result {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.proc != nil {
		st := i.Confinement
		res.Confinement = &st
	}
	return res
}

// readyWait bounds the wait for a monitor to answer: a kernel of the
// user's own may lack the control socket, and run --detach must not wait
// for it forever.
var readyWait = 30 * time.Second

// running waits up to d for the monitor of a started instance to answer
// (an instance is "running" from then on, and a guest in the background
// is reported ready), or for its process to end.
func running(b Backend, inst *Instance, d time.Duration) (answered, ended bool) {
	deadline := time.After(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := b.Status(ctx, inst)
		cancel()
		if err == nil {
			return true, false
		}
		select {
		case <-inst.proc.Done():
			return false, true
		case <-deadline:
			return false, false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

var nameJunk = lazyregexp.New(`[^A-Za-z0-9_.-]+`)

// claimName claims cfg.Name, or one made from the image's file name
// (root, root-2, root-3…).
func claimName(reg instance.Registry, cfg *config.Config) (*instance.Claim, error) {
	if cfg.Name != "" {
		return reg.Create(cfg.Name)
	}
	base := strings.SplitN(filepath.Base(Image(cfg)), ".", 2)[0]
	base = strings.Trim(nameJunk.ReplaceAllString(base, "-"), "-.")
	if base == "" {
		base = "guest"
	}
	for i := 1; ; i++ {
		n := base
		if i > 1 {
			n = fmt.Sprintf("%s-%d", base, i)
		}
		c, err := reg.Create(n)
		if !errors.Is(err, instance.ErrExists) || i == 100 {
			return c, err
		}
	}
}

// lockImages locks every image, naming the instance that holds one.
func lockImages(reg instance.Registry, cfg *config.Config) ([]*os.File, error) {
	var locks []*os.File
	for _, d := range cfg.Disks {
		f, err := instance.LockImage(d.Path, d.ReadOnly || cfg.Snapshot)
		if err != nil {
			closeAll(locks)
			if errors.Is(err, instance.ErrLocked) {
				if others, lerr := reg.List(); lerr == nil {
					for _, o := range others {
						if o.Image == d.Path && o.Name != cfg.Name && o.State != instance.Dead {
							return nil, fmt.Errorf("cobd%d: %s is in use by instance %q: %w", d.Index, d.Path, o.Name, instance.ErrLocked)
						}
					}
				}
			}
			return nil, fmt.Errorf("cobd%d: %w", d.Index, err)
		}
		locks = append(locks, f)
	}
	return locks, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}
