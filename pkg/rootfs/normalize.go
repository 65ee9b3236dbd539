package rootfs

import (
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// volatile are globs (relative to the tree) of what differs between two
// builds of one recipe, or must differ between machines, and is not needed
// in an image: logs, caches, package lists, backups, random seeds. ssh host
// keys come back at first boot (see sshKeysUnit).
var volatile = []string{
	"var/log/*.log", "var/log/apt/*", "var/log/journal/*", "var/log/installer",
	"var/cache/apt/*.bin", "var/cache/apt/archives/*.deb", "var/cache/debconf/*-old",
	"var/cache/ldconfig/aux-cache", "var/cache/man/*",
	"var/lib/apt/lists/*_*", "var/lib/apt/lists/partial/*",
	"var/lib/dpkg/*-old", "var/lib/dbus/machine-id",
	"var/lib/systemd/random-seed", "var/lib/systemd/catalog/database",
	"etc/*-", "etc/ssh/ssh_host_*", "etc/.pwd.lock",
	"tmp/*", "var/tmp/*", "root/.bash_history",
}

// sshKeysUnit makes the host keys Normalize removed on first boot, before
// the ssh server needs them.
const sshKeysUnit = `[Unit]
Description=Generate SSH host keys (removed from the image, unique per machine)
ConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
`

// Normalize removes volatile files, empties /etc/machine-id (systemd then
// makes one per machine at first boot), deletes Python bytecode caches and
// clamps every time in the tree to epoch (access times become the clamped
// modification times).
func Normalize(root string, epoch int64) error {
	for _, g := range volatile {
		matches, err := filepath.Glob(filepath.Join(root, g))
		if err != nil {
			return err
		}
		for _, m := range matches {
			if err := os.RemoveAll(m); err != nil {
				return err
			}
		}
	}
	if err := regenerateSSHKeys(root); err != nil {
		return err
	}
	if _, err := os.Lstat(filepath.Join(root, "etc/machine-id")); err == nil {
		if err := os.Truncate(filepath.Join(root, "etc/machine-id"), 0); err != nil {
			return err
		}
	}
	if err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "__pycache__" {
			if err := os.RemoveAll(p); err != nil {
				return err
			}
			return filepath.SkipDir
		}
		return nil
	}); err != nil {
		return err
	}
	return clampTimes(root, epoch)
}

// clampTimes sets every entry's mtime to min(mtime, epoch) and its atime
// to that. Times of an entry do not change its directory's, so one pass
// in any order is enough.
func clampTimes(root string, epoch int64) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return &os.PathError{Op: "lstat", Path: p, Err: err}
		}
		m := unix.Timespec{Sec: st.Mtim.Sec, Nsec: st.Mtim.Nsec}
		if m.Sec >= epoch {
			m = unix.Timespec{Sec: epoch}
		}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{m, m}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "utimes", Path: p, Err: err}
		}
		return nil
	})
}

// regenerateSSHKeys installs and enables sshKeysUnit when the image has an
// ssh server run by systemd.
func regenerateSSHKeys(root string) error {
	if _, err := os.Stat(filepath.Join(root, "usr/sbin/sshd")); err != nil {
		return nil
	}
	wants := filepath.Join(root, "etc/systemd/system/multi-user.target.wants")
	if err := os.MkdirAll(wants, 0o755); err != nil {
		return err
	}
	unit := "/etc/systemd/system/ssh-host-keys.service"
	if err := os.WriteFile(filepath.Join(root, unit), []byte(sshKeysUnit), 0o644); err != nil {
		return err
	}
	link := filepath.Join(wants, "ssh-host-keys.service")
	os.Remove(link)
	return os.Symlink(unit, link)
}
