// Package confine starts a process — the guest kernel — so that it can
// reach on the host only what a Policy names. hostfs and UML's other
// devices open host paths on the guest's behalf, so the boundary has to
// be drawn around the kernel process itself, and every helper it forks
// inherits it:
//
//   - Landlock, with the best ABI the host offers: file access outside
//     the policy is denied, TCP bind/connect too (ABI ≥ 4), signals and
//     abstract sockets outside the sandbox (ABI ≥ 6), and mounts.
//   - a private mount namespace (a user namespace when not root) whose
//     root is an empty tmpfs holding bind mounts of only the policy's
//     paths, read-only ones read-only (no pid namespace: UML as its
//     init does not die when it panics);
//   - run as root, the kernel drops to an unprivileged uid/gid; idmapped
//     bind mounts let it use its files as their owner would, and the
//     device nodes it is given are made for it in the jail, its own.
//
// The setup runs in corun's own binary re-executed with a spec in its
// environment: either in a process that calls Enter and then starts the
// program from the confined thread (the driver's PID-1 helper, so that a
// guest kernel costs one re-execution, not two), or in the trampoline
// Init runs, which execs the program. Programs that start confined
// processes call Init first thing in main (and in TestMain).
package confine

import (
	"fmt"
	"strings"
)

// Policy is what the confined process may reach on the host. Paths are
// absolute; symlinks on the way are followed (and recreated in the jail).
type Policy struct {
	// Exec are programs it runs, read and executed, with their ELF
	// interpreter and libraries.
	Exec []string `json:"exec,omitempty"`
	// Read are files and directories it reads.
	Read []string `json:"read,omitempty"`
	// ReadWrite are files it reads and writes, and directories in which
	// it also creates and removes entries.
	ReadWrite []string `json:"readWrite,omitempty"`
	// Devices are device nodes it reads, writes and controls (ioctl).
	Devices []string `json:"devices,omitempty"`
	// Optional paths are left out when they do not exist (say,
	// /dev/random on a minimal host); the others must exist.
	Optional []string `json:"optional,omitempty"`
	// NoRandomize starts the program with address space randomization
	// off (ADDR_NO_RANDOMIZE). UML kernels from 6.16 on want that and,
	// started without it, re-execute themselves through /proc/self/exe,
	// which the jail has not got.
	NoRandomize bool `json:"noRandomize,omitempty"`
}

// Status says which confinement is in force for a started process.
type Status struct {
	// Landlock is the Landlock ABI version enforced; 0 is none.
	Landlock int `json:"landlock"`
	// UserNS: the process runs in its own user namespace.
	UserNS bool `json:"userns"`
	// MountNS: its root is a jail holding only the policy's paths.
	MountNS bool `json:"mountns"`
	// UID and GID it runs as on the host.
	UID int `json:"uid"`
	GID int `json:"gid"`
}

// Confined says whether anything restricts the process's reach.
func (s Status) Confined() bool { return s.Landlock > 0 || s.MountNS }

func (s Status) String() string {
	if !s.Confined() {
		return fmt.Sprintf("unconfined, uid %d", s.UID)
	}
	var parts []string
	if s.Landlock > 0 {
		parts = append(parts, fmt.Sprintf("landlock ABI %d", s.Landlock))
	}
	var ns []string
	for _, n := range []struct {
		on   bool
		name string
	}{{s.UserNS, "user"}, {s.MountNS, "mount"}} {
		if n.on {
			ns = append(ns, n.name)
		}
	}
	if len(ns) > 0 {
		parts = append(parts, strings.Join(ns, "+")+" namespace")
	}
	parts = append(parts, fmt.Sprintf("uid %d", s.UID))
	return strings.Join(parts, ", ")
}

// Short is Status in a few characters, for a table column: "ll7+ns",
// "ll7", "ns", "none".
func (s Status) Short() string {
	var out []string
	if s.Landlock > 0 {
		out = append(out, fmt.Sprintf("ll%d", s.Landlock))
	}
	if s.MountNS {
		out = append(out, "ns")
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, "+")
}

// Nobody is the uid and gid a kernel started by root runs as.
const Nobody = 65534
