// Package uml is the User-mode Linux monitor backend: it runs the guest
// kernel (linux.uml) as a child process, with cobd disks as ubd devices,
// cofs shares through hostfs (the kernel process confined by
// driver/confine, since hostfs alone reaches any host path), the
// console on a socket pair and coinit's status line on a pipe.
package uml

import (
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/colinux-ng/colinux/driver"
	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/x11"
	"github.com/colinux-ng/colinux/runtime"
	"github.com/colinux-ng/colinux/runtime/coinit"
)

// File descriptors the guest kernel inherits (3 is the first ExtraFile).
const (
	fdConsole = 3 // con0 input and output: a socket pair with corun
	fdStatus  = 4 // con1 output: coinit's status lines
)

// Paths inside the instance directory.
const (
	hostfsDir  = "hostfs"  // the hostfs= root: only links to what the guest may see
	modulesDir = "modules" // link to the kernel's module tree, in hostfsDir
	umlDir     = "uml"     // uml_dir and COW files: all the kernel writes here
	// x11Initramfs is the initramfs with the guest's X cookie.
	x11Initramfs = "initramfs-x11.cpio"
)

func shareName(n int) string { return fmt.Sprintf("cofs%d", n) }

func cowFile(dir string, n int) string {
	return filepath.Join(dir, umlDir, fmt.Sprintf("cobd%d.cow", n))
}

// args returns the kernel command line for m, with dir as the instance
// directory; the instance name is UML's machine id.
func args(m *config.Config, dir string, display *x11.Forwarder) []string {
	mem := m.MemoryMiB
	if mem == 0 {
		mem = driver.DefaultMemoryMiB
	}
	a := []string{
		"umid=" + m.Name,
		"uml_dir=" + filepath.Join(dir, umlDir),
		"mem=" + strconv.Itoa(mem) + "M",
		"hostfs=" + filepath.Join(dir, hostfsDir),
		// Every console and serial line not named below is off; UML's
		// default would open xterms or ptys for them.
		"con=null", "ssl=null",
		fmt.Sprintf("con0=fd:%d,fd:%d", fdConsole, fdConsole),
		fmt.Sprintf("con1=null,fd:%d", fdStatus),
		// Power-off and reboot both end the process: corun decides
		// whether to boot again.
		"noreboot",
		"quiet", "loglevel=3",
	}
	if m.KernelMode == runtime.Seccomp {
		// Guest processes trap their own system calls: about half the
		// cost of a ptrace round trip. A seccomp=off among the user's
		// kernel words, which come later, wins.
		a = append(a, "seccomp=on")
	}
	for _, d := range m.Disks {
		switch {
		case m.Snapshot:
			// UML creates the COW file and never writes to the backing file.
			a = append(a, fmt.Sprintf("ubd%d=%s,%s", d.Index, cowFile(dir, d.Index), d.Path))
		case d.ReadOnly:
			a = append(a, fmt.Sprintf("ubd%dr=%s", d.Index, d.Path))
		default:
			a = append(a, fmt.Sprintf("ubd%d=%s", d.Index, d.Path))
		}
	}
	a = append(a, nicArgs(m, dir)...)
	if m.Initrd != "" {
		a = append(a, "initrd="+m.Initrd, "root="+m.Root)
		if m.ReadOnly {
			a = append(a, "ro")
		}
	} else {
		a = append(a, "initrd="+m.Initramfs, coinitConfig(m, display).KernelArg())
	}
	if len(m.Command) > 0 {
		// Kernel messages go to the status line, which corun logs, so the
		// console carries the command's output alone.
		a = append(a, "console=tty1")
	}
	return append(a, m.KernelArgs...)
}

func coinitConfig(m *config.Config, display *x11.Forwarder) coinit.Config {
	c := driver.CoinitConfig(m, display)
	if m.Modules != "" {
		c.Modules, c.KernelVersion = modulesDir, m.KernelVersion
	}
	for _, s := range m.Shares {
		c.Shares = append(c.Shares, coinit.Share{Source: shareName(s.Index), Target: s.Target, ReadOnly: s.ReadOnly})
	}
	return c
}
