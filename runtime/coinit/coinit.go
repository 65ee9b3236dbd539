// Package coinit is the guest's first process: it mounts the cobd root,
// makes the kernel modules and the cofs shares visible, then hands over to
// the image's init — or runs one command, reports its exit status to corun
// and powers the guest off.
//
// The program is runtime/coinit/cmd/coinit, embedded into corun (see
// runtime/initramfs); the host encodes Config and the guest decodes it
// with this one package.
package coinit

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Share is a cofs directory to mount in the guest.
type Share struct {
	// Source is the path below the hostfs root, which the host confines,
	// or for virtiofs the device's tag.
	Source   string `json:"source"`
	FSType   string `json:"fstype,omitempty"` // "" is hostfs (UML); ShareVirtiofs under QEMU
	Target   string `json:"target"`           // mount point inside the guest root
	ReadOnly bool   `json:"ro,omitempty"`
}

// ShareVirtiofs is the file system type of a QEMU guest's shares.
const ShareVirtiofs = "virtiofs"

// Config tells coinit what to do. The host passes it on the kernel command
// line as Param=<base64url JSON>, which the kernel hands to /init in its
// environment.
type Config struct {
	Root          string   `json:"root"`             // root block device
	FSType        string   `json:"fstype,omitempty"` // "" tries the common ones
	ReadOnly      bool     `json:"ro,omitempty"`
	SysfsReadOnly bool     `json:"sysro,omitempty"`
	Modules       string   `json:"modules,omitempty"` // hostfs path of the modules tree
	KernelVersion string   `json:"kver,omitempty"`
	Shares        []Share  `json:"shares,omitempty"`
	Command       []string `json:"cmd,omitempty"`  // run this and power off; empty: exec Init
	DHCP          []string `json:"dhcp,omitempty"` // interfaces to configure by DHCP for Command
	Init          string   `json:"init,omitempty"` // default /sbin/init
	// X11 is the guest's DISPLAY for the host's display forwarded by
	// corun; the cookie is in the initramfs at X11Authority.
	X11 string `json:"x11,omitempty"`
	// The guest terminals of the command's output and of the status
	// channel; default ConsoleTTY and StatusTTY (UML's con0 and con1).
	Console string `json:"console,omitempty"`
	Status  string `json:"status,omitempty"`
}

// Param is the kernel command line key carrying the Config.
const Param = "coinit"

// KernelArg returns the Config as a kernel command line argument.
func (c Config) KernelArg() string {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // a struct of strings and bools always marshals
	}
	return Param + "=" + base64.RawURLEncoding.EncodeToString(b)
}

func decodeConfig(s string) (Config, error) {
	var c Config
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, fmt.Errorf("bad %s= argument: %w", Param, err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("bad %s= argument: %w", Param, err)
	}
	if c.Root == "" {
		return c, fmt.Errorf("%s= names no root device", Param)
	}
	return c, nil
}

// The status channel is the guest's second console line (con1), which the
// host wires to a pipe. coinit writes one line per event. The command's
// output goes to the first (con0), which is corun's console.
const (
	StatusTTY  = "/dev/tty1"
	ConsoleTTY = "/dev/tty0"
)

// Kernel modules the initramfs carries: ModulesDir holds them, and its
// file ModulesOrder names them (NAME.ko, one a line) in the order coinit
// loads them, before it looks for the root device.
const (
	ModulesDir   = "/modules"
	ModulesOrder = "load"
)

// Status events, as written on the status channel.
const (
	statusUp    = "coinit-up"
	statusExit  = "coinit-exit"
	statusError = "coinit-error"
)

// Event is one status line as the host reads it.
type Event struct {
	Up     bool   // coinit started: the kernel booted
	Exited bool   // the command finished with Code
	Code   int    // exit status, 128+signal for a signal
	Err    string // coinit failed (mounting the root, say)
}

// ParseStatus decodes a status line; ok is false for anything else.
func ParseStatus(line string) (ev Event, ok bool) {
	line = strings.TrimRight(line, "\r\n")
	word, rest, _ := strings.Cut(line, " ")
	switch word {
	case statusUp:
		return Event{Up: true}, true
	case statusExit:
		n, err := strconv.Atoi(rest)
		return Event{Exited: true, Code: n}, err == nil
	case statusError:
		return Event{Err: rest}, true
	}
	return Event{}, false
}
