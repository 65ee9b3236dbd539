package uml

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/confine"
	"github.com/colinux-ng/colinux/driver/instance"
)

// policy is all the kernel process (and every helper it forks) may reach
// on the host when it boots m in the instance directory dir: its binary
// and modules, the initramfs, the images as configured, the shares
// (read-only ones read-only), the hostfs root of links, its scratch
// directories and its network sockets or TAP device.
func policy(m *config.Config, dir, memDir string) *confine.Policy {
	p := &confine.Policy{
		Exec:      []string{m.Kernel},
		Read:      []string{filepath.Join(dir, hostfsDir)},
		ReadWrite: []string{filepath.Join(dir, umlDir), memDir},
		Devices:   []string{"/dev/null", "/dev/urandom", "/dev/random"},
		Optional:  []string{"/dev/urandom", "/dev/random"},
		// Without it, a newer kernel re-executes itself through
		// /proc/self/exe, which the jail has not got.
		NoRandomize: m.KernelNoRandomize,
	}
	if m.Modules != "" {
		p.Read = append(p.Read, m.Modules)
	}
	for _, f := range []string{m.Initramfs, m.Initrd} {
		if f != "" {
			p.Read = append(p.Read, f)
		}
	}
	for _, d := range m.Disks {
		if d.ReadOnly || m.Snapshot {
			p.Read = append(p.Read, d.Path) // a snapshot's writes go to a COW file in umlDir
		} else {
			p.ReadWrite = append(p.ReadWrite, d.Path)
		}
	}
	for _, s := range m.Shares { // absolute since driver.Prepare
		if s.ReadOnly {
			p.Read = append(p.Read, s.Path)
		} else {
			p.ReadWrite = append(p.ReadWrite, s.Path)
		}
	}
	for _, nic := range m.NICs {
		switch nic.Mode {
		case config.Slirp:
			p.ReadWrite = append(p.ReadWrite, nicSocket(dir, nic.Index))
		case config.TAP:
			p.Devices = append(p.Devices, "/dev/net/tun")
		}
	}
	return p
}

// memoryDir makes a directory for UML's memory files (its TMPDIR): on
// /dev/shm when that is a tmpfs (UML maps the files; on disk, every page
// would be written back), else in the temporary directory.
func memoryDir(umid string) (string, error) {
	base := os.TempDir()
	var fs unix.Statfs_t
	if unix.Statfs("/dev/shm", &fs) == nil && fs.Type == unix.TMPFS_MAGIC {
		base = "/dev/shm"
	}
	return os.MkdirTemp(base, instance.ScratchPrefix+umid+"-")
}

// giveScratch hands the directories corun made for the kernel to the uid
// it runs as (they need no idmapped mount then).
func giveScratch(uid int, dirs ...string) error {
	if uid == os.Geteuid() {
		return nil
	}
	for _, d := range dirs {
		if err := os.Chown(d, uid, uid); err != nil {
			return err
		}
	}
	return nil
}
