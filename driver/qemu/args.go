// Package qemu is the QEMU monitor backend: the guest runs Debian's cloud
// kernel in qemu-system with KVM where the host has it, TCG otherwise.
// cobd disks are virtio-blk devices with the serial cobdN (coinit names
// them as UML does), the console and coinit's status line are the first
// two serial ports on socket pairs, user-mode NICs are -netdev dgram on
// socket pairs into corun's NAT, and QMP — on a socket pair for the
// supervisor's events, on a socket file for corun stop — replaces UML's
// mconsole.
package qemu

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/colinux-ng/colinux/driver"
	"github.com/colinux-ng/colinux/driver/config"
	conet "github.com/colinux-ng/colinux/driver/net"
	"github.com/colinux-ng/colinux/driver/x11"
	"github.com/colinux-ng/colinux/runtime/coinit"
)

// File descriptors QEMU inherits (3 is the first ExtraFile); user-mode
// NICs follow, in the order of Machine.NICs.
const (
	fdConsole = 3 // ttyS0: a socket pair with corun
	fdStatus  = 4 // ttyS1: coinit's status lines, and kernel messages in command mode
	fdEvents  = 5 // QMP for the supervisor
	fdNICs    = 6
)

// Guest terminals: the first two serial ports, built into every Debian
// kernel.
const (
	consoleTTY = "ttyS0"
	statusTTY  = "ttyS1"
)

// Modules the initramfs carries for the devices corun gives the guest;
// kmod resolves what they depend on, and leaves out what a kernel has
// built in. button and evdev make QMP's system_powerdown a power key an
// init system sees (systemd-logind powers off on it): without them the
// guest ignores the ACPI event, and stop rests on Ctrl-Alt-Del alone.
var Modules = []string{"virtio_pci", "virtio_blk", "virtio_net", "pvpanic_pci", "button", "evdev"}

// QMPPath is the QMP socket of the instance in dir, for commands from
// other processes (corun stop).
func QMPPath(dir string) string { return filepath.Join(dir, "qmp.sock") }

func overlayFile(dir string, n int) string {
	return filepath.Join(dir, fmt.Sprintf("cobd%d.qcow2", n))
}

// Binary is the qemu-system program for the host's architecture.
func Binary() string {
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64", "386": "i386"}[runtime.GOARCH]
	if arch == "" {
		arch = runtime.GOARCH
	}
	return "qemu-system-" + arch
}

// args returns QEMU's command line for m, with dir as the instance
// directory and initramfs the archive to boot; kvm picks the accelerator,
// display (nil: none) is the X display offered to the guest.
func args(m *config.Config, dir, initramfs string, kvm bool, display *x11.Forwarder) []string {
	mem := m.MemoryMiB
	if mem == 0 {
		mem = driver.DefaultMemoryMiB
	}
	cpus := max(m.CPUs, 1)
	a := []string{
		"-name", m.Name,
		"-machine", "pc", "-nodefaults", "-no-user-config", "-display", "none", "-vga", "none",
		"-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus),
		// Power-off and reboot both end the process, as under UML; a
		// panic (pvpanic) ends it with a failure after GUEST_PANICKED.
		"-no-reboot", "-action", "panic=exit-failure", "-device", "pvpanic-pci",
		"-chardev", fmt.Sprintf("socket,id=con0,fd=%d", fdConsole), "-serial", "chardev:con0",
		"-chardev", fmt.Sprintf("socket,id=status,fd=%d", fdStatus), "-serial", "chardev:status",
		"-chardev", fmt.Sprintf("socket,id=events,fd=%d", fdEvents), "-mon", "chardev=events,mode=control",
		"-qmp", "unix:" + QMPPath(dir) + ",server=on,wait=off",
		"-kernel", m.Kernel,
	}
	if kvm {
		a = append(a, "-accel", "kvm", "-cpu", "host")
	} else {
		a = append(a, "-accel", "tcg,thread=multi", "-cpu", "max")
	}
	for _, d := range m.Disks {
		drive := fmt.Sprintf("if=none,id=cobd%d,format=raw,cache=writeback,file=%s", d.Index, escape(d.Path))
		switch {
		case m.Snapshot:
			drive = fmt.Sprintf("if=none,id=cobd%d,format=qcow2,file=%s", d.Index, escape(overlayFile(dir, d.Index)))
		case d.ReadOnly:
			drive += ",readonly=on"
		}
		a = append(a, "-drive", drive, "-device", fmt.Sprintf("virtio-blk-pci,drive=cobd%d,serial=cobd%d", d.Index, d.Index))
	}
	a = append(a, shareArgs(m, dir, mem)...)
	fd := fdNICs
	for _, nic := range m.NICs {
		var netdev string
		switch nic.Mode {
		case config.Slirp:
			netdev = fmt.Sprintf("dgram,id=eth%d,local.type=fd,local.str=%d", nic.Index, fd)
			fd++
		case config.TAP:
			netdev = fmt.Sprintf("tap,id=eth%d,ifname=%s,script=no,downscript=no", nic.Index, conet.NICTAP(m.Name, nic))
		}
		a = append(a, "-netdev", netdev, "-device", fmt.Sprintf("virtio-net-pci,netdev=eth%d,mac=%s", nic.Index, conet.NICMAC(m.Name, nic).String()))
	}
	var kargs []string
	if m.Initrd != "" {
		a = append(a, "-initrd", m.Initrd)
		kargs = append(kargs, "root="+m.Root)
		if m.ReadOnly {
			kargs = append(kargs, "ro")
		}
	} else {
		a = append(a, "-initrd", initramfs)
		kargs = append(kargs, coinitConfig(m, display).KernelArg())
	}
	// Kernel messages go to the console, or in command mode to the status
	// line, which corun logs, so the console carries the command's output
	// alone. Interfaces keep the kernel's ethN names under systemd too.
	console := consoleTTY
	if len(m.Command) > 0 {
		console = statusTTY
	}
	// no_timer_check: an emulated CPU on a busy host can miss the timer
	// interrupts the kernel counts at boot, and the kernel then panics
	// ("IO-APIC + timer doesn't work!"), as measured at load 20 on 2 cores.
	kargs = append(kargs, "console="+console, "quiet", "loglevel=3", "net.ifnames=0", "panic=-1", "no_timer_check")
	kargs = append(kargs, m.KernelArgs...)
	return append(a, "-append", strings.Join(kargs, " "))
}

// escape doubles commas, QEMU's option separator, in a value.
func escape(s string) string { return strings.ReplaceAll(s, ",", ",,") }

func coinitConfig(m *config.Config, display *x11.Forwarder) coinit.Config {
	c := driver.CoinitConfig(m, display)
	c.Console, c.Status = "/dev/"+consoleTTY, "/dev/"+statusTTY
	c.Shares = coinitShares(m)
	return c
}
