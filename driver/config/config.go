// Package config reads coLinux's configuration syntax: key=value settings
// and bare kernel words, given on the command line or in @file files.
//
// As in colinux-daemon, sources apply left to right and a later source
// overrides an earlier one (so `@base.conf @mine.conf mem=256` works), `#`
// starts a comment, values may be double-quoted, and keys corun does not
// know go to the guest kernel's command line. A key given twice within
// one source is an error, as it is almost always a typo (two cobd1 lines);
// kernel words pass through as given, repeats included.
package config

import (
	"fmt"
	"sort"

	"github.com/colinux-ng/colinux/pkg/cobd"
)

// Disk is a cobdN block device: a host file the guest sees as cobd.Device(N).
type Disk struct {
	Index    int
	Path     string
	ReadOnly bool
}

// Share is a cofsN host directory mounted in the guest at Target.
type Share struct {
	Index    int
	Path     string
	Target   string
	ReadOnly bool
}

// Config is a guest: what the settings say, what corun's flags add and
// what corun resolves before boot. The same value flows from the parser
// through the background supervisor (as JSON) to the monitor backend.
type Config struct {
	Name    string // instance name; "" lets the driver make one from cobd0
	Monitor string // backend, as registered with driver.Register; "" is "uml"

	Kernel        string // guest kernel binary; "" means the cached runtime kernel
	KernelVersion string // resolved: the kernel's release, for /lib/modules/<version>
	// KernelMode is resolved for UML: how the kernel runs the guest's
	// processes, "seccomp" (booted with seccomp=on) or "ptrace".
	KernelMode string
	// KernelNoRandomize is resolved for UML: start the kernel with
	// address space randomization off, as it wants (runtime.Kernel).
	KernelNoRandomize bool
	Modules           string // resolved: host directory of the kernel's modules; "" for none
	Initramfs         string // resolved: corun's coinit archive; unused when Initrd is set
	Initrd            string // an initrd of the user's own instead of coinit
	// Virtiofsd is resolved for QEMU's cofs shares: the command running
	// virtiofsd (see runtime.Cache.EnsureVirtiofsd).
	Virtiofsd []string
	Root      string // guest root device; cobd.RootDevice by default
	MemoryMiB int    // 0 means the default
	CPUs      int    // cpus=; 0 means one
	ReadOnly  bool   // mount the root read-only ("ro")
	// SysfsReadOnly mounts the guest's /sys read-only ("sysfs=ro"). systemd
	// then boots as in a container: no udev, no device units. Under UML
	// nothing is hot-plugged, and udev's coldplug is seconds of boot.
	SysfsReadOnly bool
	// X11 offers the host's X display to the guest ("x11=on"), through
	// the first user-mode interface.
	X11        bool
	Disks      []Disk
	Shares     []Share
	NICs       []NIC
	KernelArgs []string
	// Warnings name settings that are accepted but have no effect.
	Warnings []string

	// From corun's flags.
	Snapshot bool     // writes go to throwaway copy-on-write files
	DNS      string   // resolver for user-mode NICs, "host:port"; "" is the host's
	Command  []string // run this and power off; empty boots the guest's init
	// Unconfined runs the monitor with all the rights of the user running
	// corun: a UML guest can then mount any host path through hostfs.
	Unconfined bool
}

// MaxCPUs bounds cpus=: QEMU's pc machine takes up to 255.
const MaxCPUs = 255

// MaxShares is how many cofsN directories coLinux allowed: cofs0…cofs31.
const MaxShares = 32

// Disk returns cobdN, or false when it is not configured.
func (c *Config) Disk(n int) (Disk, bool) {
	for _, d := range c.Disks {
		if d.Index == n {
			return d, true
		}
	}
	return Disk{}, false
}

// SyntaxError reports a setting that cannot be read, with where it came from.
type SyntaxError struct {
	Source string // a file name, or "command line"
	Line   int    // 0 on the command line
	Text   string // the offending setting
	Msg    string
}

func (e *SyntaxError) Error() string {
	where := e.Source
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d", e.Source, e.Line)
	}
	return fmt.Sprintf("%s: %q: %s", where, e.Text, e.Msg)
}

// builder accumulates settings; maps keyed by index make later sources
// override earlier ones.
type builder struct {
	cfg    Config
	disks  map[int]Disk
	shares map[int]Share
	nics   map[int]NIC
	warned map[string]bool
}

func newBuilder() *builder {
	return &builder{
		disks:  map[int]Disk{},
		shares: map[int]Share{},
		nics:   map[int]NIC{},
		warned: map[string]bool{},
	}
}

func (b *builder) finish() *Config {
	c := b.cfg
	for _, d := range b.disks {
		c.Disks = append(c.Disks, d)
	}
	sort.Slice(c.Disks, func(i, j int) bool { return c.Disks[i].Index < c.Disks[j].Index })
	for _, s := range b.shares {
		c.Shares = append(c.Shares, s)
	}
	sort.Slice(c.Shares, func(i, j int) bool { return c.Shares[i].Index < c.Shares[j].Index })
	for _, n := range b.nics {
		c.NICs = append(c.NICs, n)
	}
	sort.Slice(c.NICs, func(i, j int) bool { return c.NICs[i].Index < c.NICs[j].Index })
	if c.Root == "" {
		c.Root = cobd.RootDevice
	}
	return &c
}

func (b *builder) warn(key, msg string) {
	if !b.warned[key] {
		b.warned[key] = true
		b.cfg.Warnings = append(b.cfg.Warnings, fmt.Sprintf("%s: %s", key, msg))
	}
}
