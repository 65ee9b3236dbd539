// Package rootfs turns a bootstrapped tree into the system a recipe
// describes (hostname, users, fstab, console logins, network, files,
// scripts), normalizes it so that equal inputs give equal bytes, and packs
// it into an ext4 cobd image.
package rootfs

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/colinux-ng/colinux/pkg/recipe"
)

// Runner runs a shell script inside the tree (bootstrap.Chroot does);
// name labels errors.
type Runner interface {
	Run(ctx context.Context, name, script string) error
}

// Customize applies the recipe to the tree at root: accounts first (files
// may be owned by them), then hostname, hosts, fstab, network, console
// logins and files, and finally the recipe's scripts, in order.
func Customize(ctx context.Context, root string, r *recipe.Recipe, run Runner) error {
	t, err := os.OpenRoot(root)
	if err != nil {
		return err
	}
	defer t.Close()
	if err := run.Run(ctx, "accounts and services", setupScript(t, r)); err != nil {
		return err
	}
	writes := map[string]string{
		"etc/hostname": r.Hostname + "\n",
		"etc/hosts":    hosts(r.Hostname),
		"etc/fstab":    fstab(r.Fstab),
	}
	for name, text := range networkFiles(r.Network) {
		writes[name] = text
	}
	for name, text := range writes {
		if err := writeFile(t, name, []byte(text), 0o644, 0, 0); err != nil {
			return err
		}
	}
	ids, err := readIDs(t)
	if err != nil {
		return err
	}
	for i, f := range r.Files {
		if err := placeFile(t, r, f, ids); err != nil {
			return fmt.Errorf("%s: files[%d] %s: %w", r.File, i, f.Path, err)
		}
	}
	for _, s := range r.Scripts {
		if err := run.Run(ctx, s.Name, s.Run); err != nil {
			return err
		}
	}
	return nil
}

// setupScript is the shell run inside the tree for what the image's own
// tools do best: accounts with their homes (shadow's tools honour
// SOURCE_DATE_EPOCH for the password dates) and enabling systemd units.
func setupScript(t *os.Root, r *recipe.Recipe) string {
	var b strings.Builder
	b.WriteString("set -e\n")
	password(&b, "root", r.Users.Root)
	for _, u := range r.Users.Extra {
		for _, g := range u.Groups {
			fmt.Fprintf(&b, "getent group %s >/dev/null || groupadd %s\n", g, g)
		}
		groups := ""
		if len(u.Groups) > 0 {
			groups = " --groups " + strings.Join(u.Groups, ",")
		}
		fmt.Fprintf(&b, "useradd --create-home --user-group --shell %s%s %s\n", shellQuote(u.Shell), groups, u.Name)
		password(&b, u.Name, u.Login)
		if len(u.SSHKeys) > 0 {
			fmt.Fprintf(&b, "home=$(getent passwd %[1]s | cut -d: -f6)\ninstall -d -m 0700 -o %[1]s -g %[1]s \"$home/.ssh\"\n", u.Name)
			fmt.Fprintf(&b, "printf '%%s\\n' %s > \"$home/.ssh/authorized_keys\"\n", shellQuote(u.SSHKeys...))
			fmt.Fprintf(&b, "chown %[1]s:%[1]s \"$home/.ssh/authorized_keys\"\nchmod 0600 \"$home/.ssh/authorized_keys\"\n", u.Name)
		}
	}
	if _, err := t.Stat("usr/bin/systemctl"); err == nil {
		var units []string
		for _, tty := range r.Console.Getty {
			units = append(units, gettyUnit(tty))
		}
		if len(r.Network.DHCP) > 0 || len(r.Network.Static) > 0 {
			units = append(units, "systemd-networkd.service")
		}
		if len(units) > 0 {
			b.WriteString("systemctl --quiet enable " + strings.Join(units, " ") + "\n")
		}
	}
	return b.String()
}

func password(b *strings.Builder, user string, l recipe.Login) {
	hash := "!" // locked: no password opens the account; SSH keys still do
	if !l.Locked {
		hash = l.PasswordHash
	}
	fmt.Fprintf(b, "usermod --password %s %s\n", shellQuote(hash), user)
}

// gettyUnit is the systemd unit giving a login on a terminal: getty@ for
// every line, serial ones included. serial-getty@ binds to the line's
// device unit, which systemd refuses when /sys is read-only (corun's
// sysfs=ro boot tuning: no udev, no device units), so every boot printed
// "Dependency failed for Serial Getty on ttyS0"; the lines a cooperative
// guest has are virtual, where serial-getty's baud-rate list buys nothing,
// and systemd gives non-VT lines TERM=vt220 either way. Under User-mode
// Linux con0 is tty0.
func gettyUnit(tty string) string {
	return "getty@" + tty + ".service"
}

func hosts(hostname string) string {
	return "127.0.0.1\tlocalhost\n127.0.1.1\t" + hostname + "\n\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
}

func fstab(mounts []recipe.Mount) string {
	var b strings.Builder
	b.WriteString("# <device> <mount point> <type> <options> <dump> <pass>\n")
	for _, m := range mounts {
		pass := 2
		switch {
		case m.Mountpoint == "/":
			pass = 1
		case !strings.HasPrefix(m.Device, "/dev/") && !strings.Contains(m.Device, "="):
			pass = 0 // tmpfs, proc, hostfs: nothing to check
		}
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\t0\t%d\n", m.Device, m.Mountpoint, m.Type, m.Options, pass)
	}
	return b.String()
}

// networkFiles are systemd-networkd configurations, by path in the tree.
func networkFiles(n recipe.Network) map[string]string {
	out := map[string]string{}
	for _, ifc := range n.DHCP {
		out["etc/systemd/network/10-"+ifc+".network"] = "[Match]\nName=" + ifc + "\n\n[Network]\nDHCP=yes\n"
	}
	for _, s := range n.Static {
		text := "[Match]\nName=" + s.Interface + "\n\n[Network]\nAddress=" + s.Address + "\n"
		if s.Gateway != "" {
			text += "Gateway=" + s.Gateway + "\n"
		}
		for _, d := range s.DNS {
			text += "DNS=" + d + "\n"
		}
		out["etc/systemd/network/10-"+s.Interface+".network"] = text
	}
	return out
}

// placeFile writes one recipe file, replacing whatever was at its path.
func placeFile(t *os.Root, r *recipe.Recipe, f recipe.File, ids *idMap) error {
	var data []byte
	if f.Content != nil {
		data = []byte(*f.Content)
	} else {
		var err error
		if data, err = os.ReadFile(r.HostPath(f.Copy)); err != nil {
			return err
		}
	}
	uid, gid, err := ids.owner(f.Owner)
	if err != nil {
		return err
	}
	return writeFile(t, strings.TrimPrefix(f.Path, "/"), data, fs.FileMode(*f.Mode), uid, gid)
}

// writeFile replaces name in the tree with a regular file. The old entry
// goes first, so a symlink or hard link there is not written through.
func writeFile(t *os.Root, name string, data []byte, mode fs.FileMode, uid, gid int) error {
	if err := t.MkdirAll(path.Dir(name), 0o755); err != nil {
		return err
	}
	if err := t.Remove(name); err != nil && !os.IsNotExist(err) {
		return err
	}
	f, err := t.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := t.Lchown(name, uid, gid); err != nil {
		return err
	}
	return t.Chmod(name, mode) // after chown, which clears set-id bits
}

// shellQuote quotes words for /bin/sh.
func shellQuote(words ...string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
