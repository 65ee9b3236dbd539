// Package driver owns a guest's lifecycle, whatever monitor runs it: the
// instance registry and image locks (driver/instance), the console server
// (driver/console), the log, the start of the monitor process and the stop
// sequence. A monitor is a Backend registered by name (driver/uml:
// User-mode Linux), in the manner of lima's driver registry; the CLI names
// none of them. One config.Config flows from the settings parser through
// Prepare to the backend.
package driver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/confine"
)

// Backend is a cooperative monitor.
//
// Run, Stop and Status get an Instance; the driver has made its directory,
// holds its locks and runs the stop sequence (Stop graceful, then Stop
// force, then SIGKILL to everything the monitor started).
type Backend interface {
	// Prepare checks cfg against what the monitor can do and fills in what
	// it derives, before anything is started (User-mode Linux refuses
	// more than one CPU, for one). It must not touch the host.
	Prepare(cfg *config.Config) error
	// Run boots the guest and returns when it has ended. It starts the
	// monitor process through inst.Start, once, and reads the guest
	// console into inst.Output. Run does not stop the guest on its own:
	// when ctx is cancelled the driver stops it through Stop and Run
	// returns once the process has ended.
	Run(ctx context.Context, inst *Instance) (Result, error)
	// Stop asks the guest to shut down: gracefully (the guest's init
	// powers off) or, with force, at once. It returns when the request
	// is delivered; the driver waits for the end. It may be called from
	// another process than Run's, with only inst.Name and inst.Dir set.
	Stop(ctx context.Context, inst *Instance, force bool) error
	// Status reports whether the guest's monitor answers (nil). The
	// driver calls it after Start until it does: the instance is then
	// "running" (until then "starting"), and a guest in the background
	// is reported ready. Same inst as for Stop.
	Status(ctx context.Context, inst *Instance) error
}

// DefaultMonitor is the backend used when the configuration names none.
const DefaultMonitor = "uml"

var (
	backendsMu sync.Mutex
	backends   = map[string]Backend{}
)

// Register makes a backend available by name; backends register
// themselves in init, and programs import the ones they offer.
func Register(name string, b Backend) {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	if _, dup := backends[name]; dup {
		panic("driver: backend " + name + " registered twice")
	}
	backends[name] = b
}

// Monitors lists the registered backends.
func Monitors() []string {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	names := make([]string, 0, len(backends))
	for n := range backends {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup returns the backend of that name ("" is DefaultMonitor).
func Lookup(name string) (Backend, error) {
	name = monitorName(&config.Config{Monitor: name})
	backendsMu.Lock()
	b, ok := backends[name]
	backendsMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("unknown monitor %q (have: %v)", name, Monitors())
	}
	return b, nil
}

func monitorName(cfg *config.Config) string {
	if cfg.Monitor == "" {
		return DefaultMonitor
	}
	return cfg.Monitor
}

// DefaultMemoryMiB is the guest memory when mem= is not given.
const DefaultMemoryMiB = 256

// Result is how a guest ended.
type Result struct {
	// Exited is true when a command ran to completion; ExitCode is its
	// status. A guest booted to /sbin/init that powers off has neither.
	Exited   bool
	ExitCode int
	// Confinement is what confined the monitor process; nil when none
	// was started.
	Confinement *confine.Status
}

// Errors for a guest that did not run to the end. The error wraps one of
// these and carries the tail of the console log.
var (
	ErrKernelStart = errors.New("guest kernel did not start")
	ErrGuestCrash  = errors.New("guest stopped unexpectedly")
	ErrGuestInit   = errors.New("guest could not start")
	// ErrUnconfined: cofs shares without confinement would open the whole
	// host to the guest.
	ErrUnconfined = errors.New("this host offers no confinement (no Landlock, no namespaces): " +
		"a guest with cofs shares could reach every host file; give --unconfined to run it anyway")
)

// GuestError is a guest failure with the last lines of its console.
type GuestError struct {
	Err  error  // one of the sentinels above
	Msg  string // what coinit or the monitor reported, if anything
	Tail string // end of the console log
}

func (e *GuestError) Error() string {
	s := e.Err.Error()
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Tail != "" {
		s += "\n--- last console output ---\n" + e.Tail
	}
	return s
}

func (e *GuestError) Unwrap() error { return e.Err }

// Prepare checks cfg for every monitor — a root disk, usable images,
// existing shares — makes host paths absolute, and lets the backend check
// and complete it. It runs before the kernel is resolved.
func Prepare(cfg *config.Config) error {
	b, err := Lookup(cfg.Monitor)
	if err != nil {
		return err
	}
	if len(cfg.Disks) == 0 || cfg.Disks[0].Index != 0 {
		if cfg.Initrd == "" {
			return errors.New("no root image: give IMAGE or cobd0=")
		}
	}
	if len(cfg.Command) > 0 && cfg.Initrd != "" {
		return errors.New("a command needs corun's own initramfs; drop initrd=")
	}
	if cfg.X11 {
		if cfg.Initrd != "" {
			return errors.New("x11 needs corun's own initramfs; drop initrd=")
		}
		if len(cfg.NICs) == 0 {
			cfg.NICs = []config.NIC{{Index: 0, Mode: config.Slirp}}
		}
		if _, ok := X11NIC(cfg); !ok {
			return errors.New("x11 needs a user-mode interface (ethN=slirp)")
		}
	}
	if err := checkDisks(cfg); err != nil {
		return err
	}
	if err := checkShares(cfg); err != nil {
		return err
	}
	return b.Prepare(cfg)
}

// X11NIC is the interface whose gateway offers the X display: the first
// user-mode one.
func X11NIC(cfg *config.Config) (config.NIC, bool) {
	for _, n := range cfg.NICs {
		if n.Mode == config.Slirp {
			return n, true
		}
	}
	return config.NIC{}, false
}

// Image returns cobd0's file, or "".
func Image(cfg *config.Config) string {
	if i := slices.IndexFunc(cfg.Disks, func(d config.Disk) bool { return d.Index == 0 }); i >= 0 {
		return cfg.Disks[i].Path
	}
	return ""
}
