package confine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"
)

// buildJail makes the process's root an empty read-only tmpfs holding
// bind mounts of only the policy's paths at their host paths (read-only
// where the policy only reads), and the symlinks that lead to them. It
// runs in a fresh mount namespace.
func buildJail(s *spec) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("jail: make mounts private: %w", err)
	}
	// Device nodes in the jail's own tmpfs are only those makeNode makes.
	flags := uintptr(unix.MS_NOSUID)
	if !s.Drop {
		flags |= unix.MS_NODEV
	}
	if err := unix.Mount("corun-jail", s.Jail, "tmpfs", flags, "mode=0755,size=1m"); err != nil {
		return fmt.Errorf("jail: tmpfs root: %w", err)
	}
	type entry struct {
		path      string
		ro, dev   bool
		idmapFrom int // user namespace fd for an idmapped mount; -1 for none
	}
	var entries []entry
	p := s.Policy
	for _, l := range []struct {
		paths   []string
		ro, dev bool
	}{{p.Exec, true, false}, {p.Read, true, false}, {p.ReadWrite, false, false}, {p.Devices, false, true}} {
		for _, path := range l.paths {
			e := entry{path: path, ro: l.ro, dev: l.dev, idmapFrom: -1}
			if s.Drop && !l.dev {
				if o, err := ownerOf(path); err == nil {
					if fd, ok := s.Userns[o.key()]; ok {
						e.idmapFrom = fd
					}
				}
			}
			entries = append(entries, e)
		}
	}
	// Parents before children: a path inside a bound directory is then
	// mounted over what the parent's bind shows, and nothing is created
	// in a host directory.
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].path < entries[j].path })
	for _, e := range entries {
		target := filepath.Join(s.Jail, e.path)
		if e.dev && s.Drop {
			made, err := makeNode(e.path, target, s.Status.UID, s.Status.GID)
			if err != nil {
				return fmt.Errorf("jail: %s: %w", e.path, err)
			}
			if made {
				continue
			}
		}
		if err := mountPoint(e.path, target); err != nil {
			return fmt.Errorf("jail: %s: %w", e.path, err)
		}
		if err := bind(e.path, target, e.ro, e.dev, e.idmapFrom); err != nil {
			return fmt.Errorf("jail: bind %s: %w", e.path, err)
		}
	}
	for link, to := range p.Links {
		l := filepath.Join(s.Jail, link)
		if _, err := os.Lstat(l); err == nil {
			continue // inside a bound directory: the host's own link
		}
		if err := os.MkdirAll(filepath.Dir(l), 0o755); err != nil {
			return fmt.Errorf("jail: %w", err)
		}
		if err := os.Symlink(to, l); err != nil {
			return fmt.Errorf("jail: %w", err)
		}
	}
	if err := unix.Chdir(s.Jail); err != nil {
		return fmt.Errorf("jail: %w", err)
	}
	// The old root is stacked under the new one, then detached.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("jail: pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("jail: detach the old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("jail: %w", err)
	}
	if err := unix.MountSetattr(unix.AT_FDCWD, "/", 0, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
		return fmt.Errorf("jail: read-only root: %w", err)
	}
	return nil
}

// makeNode gives the dropped user a node of its own for the device at src:
// the host's may be open to root alone (/dev/kvm is crw------- on some
// hosts, and root:kvm 0660 on others, a group the dropped user is not
// in), and devtmpfs has no idmapped mounts. The node is the same device
// (type and number) in the jail's tmpfs, mode 0600, owned by the dropped
// uid and gid. made is false where src is not a device node or target
// exists already (inside a bound host directory, where nothing is made):
// it is bound as it is then.
func makeNode(src, target string, uid, gid int) (made bool, err error) {
	var st unix.Stat_t
	if err := unix.Stat(src, &st); err != nil {
		return false, err
	}
	kind := st.Mode & unix.S_IFMT
	if kind != unix.S_IFCHR && kind != unix.S_IFBLK {
		return false, nil
	}
	if _, err := os.Lstat(target); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return false, err
	}
	if err := unix.Mknod(target, kind|0o600, int(st.Rdev)); err != nil {
		return false, fmt.Errorf("mknod: %w", err)
	}
	return true, os.Chown(target, uid, gid)
}

// mountPoint makes target, in the jail's tmpfs, of the kind of src,
// unless it is there already (inside a bound parent).
func mountPoint(src, target string) error {
	if _, err := os.Lstat(target); err == nil {
		return nil
	}
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	if fi.IsDir() {
		return os.Mkdir(target, 0o755)
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// bind mounts a copy of src's mount tree on target: read-only when ro,
// device nodes usable only when dev, and idmapped through the user
// namespace idmapFrom (when ≥ 0 and src's filesystem supports it).
func bind(src, target string, ro, dev bool, idmapFrom int) error {
	fd, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return fmt.Errorf("open_tree: %w", err)
	}
	defer unix.Close(fd)
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID}
	if ro {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	if !dev {
		attr.Attr_set |= unix.MOUNT_ATTR_NODEV
	}
	set := func(a unix.MountAttr) error {
		return unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &a)
	}
	err = errors.ErrUnsupported
	if idmapFrom >= 0 {
		idmapped := attr
		idmapped.Attr_set |= unix.MOUNT_ATTR_IDMAP
		idmapped.Userns_fd = uint64(idmapFrom)
		err = set(idmapped)
	}
	if err != nil {
		// Not idmapped (not asked for, or the filesystem cannot): the
		// dropped user gets the access the file's mode gives others.
		if err := set(attr); err != nil {
			return fmt.Errorf("mount_setattr: %w", err)
		}
	}
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}
