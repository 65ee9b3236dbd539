package qemu

import (
	"path/filepath"

	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/confine"
)

// policy is all QEMU may reach on the host when it boots m in the
// instance directory dir from the initramfs boot: its binary (with its
// libraries), firmware and modules, the kernel and initramfs, the images
// as configured, /dev/kvm when kvm, and the instance directory (the QMP
// socket, --snapshot overlays). Guest memory is anonymous; the console,
// status line, QMP events and user-mode NICs are inherited sockets.
// Measured with strace -f on a TCG boot of Debian 12's QEMU 7.2.
func policy(m *config.Config, qemu, dir, boot string, kvm bool) *confine.Policy {
	// QEMU finds its data relative to its binary: <prefix>/share/qemu,
	// whose firmware files link into seabios and ipxe, and its modules
	// (accel-tcg is one) in <prefix>/lib/<multiarch>/qemu.
	prefix := filepath.Dir(filepath.Dir(qemu))
	data := []string{
		filepath.Join(prefix, "share/qemu"),
		filepath.Join(prefix, "share/seabios"),
		filepath.Join(prefix, "lib/ipxe/qemu"),
		filepath.Join(prefix, "lib/x86_64-linux-gnu/qemu"),
		filepath.Join(prefix, "lib/aarch64-linux-gnu/qemu"),
		"/etc/localtime",
	}
	p := &confine.Policy{
		Exec:      []string{qemu},
		Read:      append([]string{m.Kernel}, data...),
		ReadWrite: []string{dir},
		Devices:   []string{"/dev/null", "/dev/urandom", "/dev/random"},
		Optional:  append([]string{"/dev/urandom", "/dev/random"}, data...),
	}
	if m.Initrd != "" {
		p.Read = append(p.Read, m.Initrd)
	} else {
		p.Read = append(p.Read, boot) // corun's archive, or one in dir
	}
	for _, d := range m.Disks {
		if d.ReadOnly || m.Snapshot {
			p.Read = append(p.Read, d.Path) // a snapshot writes to its overlay in dir
		} else {
			p.ReadWrite = append(p.ReadWrite, d.Path)
		}
	}
	if kvm {
		p.Devices = append(p.Devices, "/dev/kvm")
	}
	for _, nic := range m.NICs {
		if nic.Mode == config.TAP {
			p.Devices = append(p.Devices, "/dev/net/tun") // QEMU attaches the TAP corun made
		}
	}
	// cofs: the shares' host paths are virtiofsd's to reach, not QEMU's;
	// QEMU only needs the vhost-user sockets, which live in dir.
	return p
}
