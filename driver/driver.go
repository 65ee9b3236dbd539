// Package driver runs guests on a cooperative monitor. A Machine says what
// to boot — kernel, cobd disks, cofs shares, memory, a command — and a
// Monitor backend (driver/uml: User-mode Linux) boots it as a child
// process; the subpackages hold the concerns shared by every backend:
// configuration (config), the instance registry and image locks
// (instance), the console (console), UML's control socket (mconsole) and
// the network (net).
package driver

import (
	"context"
	"errors"
	"fmt"

	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/x11"
)

// Machine is a guest to boot, whatever the backend.
type Machine struct {
	Name          string
	Kernel        string // kernel binary
	KernelVersion string // for /lib/modules/<version>
	Modules       string // host directory of the kernel's modules; "" for none
	Initramfs     string // coinit archive; unused when Initrd is set
	Initrd        string // the user's own initrd instead of coinit
	MemoryMiB     int
	Root          string // guest root device
	ReadOnly      bool   // mount the root read-only
	SysfsReadOnly bool   // mount /sys read-only (see config.Config)
	Disks         []config.Disk
	Shares        []config.Share
	NICs          []config.NIC
	DNS           string // resolver for user-mode NICs, "host:port"; "" is the host's
	KernelArgs    []string
	Snapshot      bool     // writes go to throwaway copy-on-write files
	Command       []string // run this and power off; empty boots /sbin/init
	// X11, if not nil, offers the host's display to the guest through the
	// first user-mode interface's gateway.
	X11 *x11.Forwarder
}

// DefaultMemoryMiB is the guest memory when mem= is not given.
const DefaultMemoryMiB = 256

// Result is how a guest ended.
type Result struct {
	// Exited is true when a command ran to completion; ExitCode is its
	// status. A guest booted to /sbin/init that powers off has neither.
	Exited   bool
	ExitCode int
}

// Errors for a guest that did not run to the end. The error wraps one of
// these and carries the tail of the console log.
var (
	ErrKernelStart = errors.New("guest kernel did not start")
	ErrGuestCrash  = errors.New("guest stopped unexpectedly")
	ErrGuestInit   = errors.New("guest could not start")
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

// Monitor is a cooperative monitor backend.
type Monitor interface {
	// Run boots the guest and returns when it has powered off. Cancelling
	// ctx shuts the guest down gracefully, then forcibly after a grace
	// period.
	Run(ctx context.Context) (Result, error)
}

// Validate checks what does not need the host: a root disk, device
// indices the backend can express.
func (m *Machine) Validate() error {
	if len(m.Disks) == 0 || m.Disks[0].Index != 0 {
		if m.Initrd == "" {
			return fmt.Errorf("no root image: give IMAGE or cobd0=")
		}
	}
	if len(m.Command) > 0 && m.Initrd != "" {
		return fmt.Errorf("a command needs corun's own initramfs; drop initrd=")
	}
	if m.X11 != nil {
		if m.Initrd != "" {
			return fmt.Errorf("x11 needs corun's own initramfs; drop initrd=")
		}
		if _, ok := m.X11NIC(); !ok {
			return fmt.Errorf("x11 needs a user-mode interface (ethN=slirp)")
		}
	}
	return nil
}

// X11NIC is the interface whose gateway offers the X display: the first
// user-mode one.
func (m *Machine) X11NIC() (config.NIC, bool) {
	for _, n := range m.NICs {
		if n.Mode == config.Slirp {
			return n, true
		}
	}
	return config.NIC{}, false
}
