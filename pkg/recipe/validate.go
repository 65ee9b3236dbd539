package recipe

import (
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/colinux-ng/colinux/internal/lazyregexp"
)

// Patterns are anchored; they are compiled once and only read.
var (
	imageName   = lazyregexp.New(`^[a-z0-9][a-z0-9._-]*$`)
	release     = lazyregexp.New(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	fedoraRel   = lazyregexp.New(`^([1-9][0-9]*|rawhide)$`)
	suite       = lazyregexp.New(`^[a-z0-9][a-z0-9.-]*$`)
	component   = lazyregexp.New(`^[a-z0-9][a-z0-9/-]*$`)
	flavor      = lazyregexp.New(`^[a-z0-9][a-z0-9-]*$`)
	pkgName     = lazyregexp.New(`^[^-\s][^\s]*$`) // no option lookalikes, no spaces
	owner       = lazyregexp.New(`^([a-z_][a-z0-9_-]*|[0-9]+):([a-z_][a-z0-9_-]*|[0-9]+)$`)
	account     = lazyregexp.New(`^[a-z_][a-z0-9_-]{0,31}$`)
	cryptHash   = lazyregexp.New(`^\$[0-9a-z]+\$[^:\s]+$`)
	fingerprint = lazyregexp.New(`^([0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$`)
	sshKey      = lazyregexp.New(`^(ssh-|ecdsa-|sk-)[^\n]+$`)
	hostLabel   = lazyregexp.New(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	ifName      = lazyregexp.New(`^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$`) // IFNAMSIZ-1
	ttyName     = lazyregexp.New(`^[A-Za-z][A-Za-z0-9]*$`)
	scriptName  = lazyregexp.New(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	varName     = lazyregexp.New(`^[A-Za-z_][A-Za-z0-9_]*$`)
	fstabField  = lazyregexp.New(`^[^\s#]+$`) // fstab splits on blanks
	variants    = []string{"minbase", "important", "standard"}
	fedoraWays  = []string{"container", "repo"}
	distros     = []string{Debian, Ubuntu, Fedora, Gentoo}
)

// architectures lists each distribution's own names for its ports.
func architectures(dist string) []string {
	switch dist {
	case Debian:
		return []string{"amd64", "arm64", "armel", "armhf", "i386", "mips64el", "ppc64el", "riscv64", "s390x"}
	case Ubuntu:
		return []string{"amd64", "arm64", "armhf", "ppc64el", "riscv64", "s390x"}
	case Fedora:
		return []string{"x86_64", "aarch64", "ppc64le", "s390x"}
	case Gentoo:
		return []string{"amd64", "x86", "arm64", "arm", "ppc64", "riscv"}
	}
	return nil
}

// Validate checks a recipe whose defaults are filled in and returns every
// problem found, joined, in line order.
func (r *Recipe) Validate() error {
	c := checker{r: r}
	c.image()
	c.source()
	c.packages()
	c.files()
	c.users()
	c.hostname()
	c.network()
	c.names("console.getty", r.Console.Getty, ttyName, "a terminal name like "+SerialTTY+" (no /dev/)")
	c.fstab()
	c.scripts()
	c.size()
	for name := range r.Variables {
		c.match("variables."+name, name, varName, "a variable name of letters, digits and '_'")
	}
	if e := r.Reproducible.SourceDateEpoch; e != nil && *e < 0 {
		c.fail("reproducible.source_date_epoch", "want seconds since 1970, got %d", *e)
	}
	return joinSorted(c.errs)
}

type checker struct {
	r    *Recipe
	errs []error
}

func (c *checker) fail(path, format string, args ...any) {
	c.errs = append(c.errs, c.r.errorAt(path, format, args...))
}

// match checks value against re; want describes a good value.
func (c *checker) match(path, value string, re *lazyregexp.Regexp, want string) bool {
	if value == "" {
		c.fail(path, "missing: want %s", want)
		return false
	}
	if !re.MatchString(value) {
		c.fail(path, "want %s, got %q", want, value)
		return false
	}
	return true
}

// oneOf checks value against a fixed set.
func (c *checker) oneOf(path, value string, set []string) {
	if !slices.Contains(set, value) {
		c.fail(path, "want one of %s, got %q", strings.Join(set, ", "), value)
	}
}

// names checks a list of names: each matches re and none repeats.
func (c *checker) names(path string, list []string, re *lazyregexp.Regexp, want string) {
	for i, n := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		if !c.match(p, n, re, want) {
			continue
		}
		if j, dup := earlier(list, i, func(s string) string { return s }); dup {
			c.fail(p, "%q repeats %s[%d]", n, path, j)
		}
	}
}

// earlier finds an element before list[i] with the same key.
func earlier[T any](list []T, i int, key func(T) string) (int, bool) {
	j := slices.IndexFunc(list[:i], func(o T) bool { return key(o) == key(list[i]) })
	return j, j >= 0
}

func (c *checker) image() {
	im := c.r.Image
	c.match("image.name", im.Name, imageName, "a name of lowercase letters, digits, '.', '_' or '-'")
	if im.Distribution == "" {
		c.fail("image.distribution", "missing: want one of %s", strings.Join(distros, ", "))
		return
	}
	c.oneOf("image.distribution", im.Distribution, distros)
	if im.Release != "" || im.Distribution != Gentoo { // Gentoo is rolling
		c.match("image.release", im.Release, release, "a release like 12 or bookworm")
	}
	if archs := architectures(im.Distribution); archs != nil {
		c.oneOf("image.architecture", im.Architecture, archs)
	}
}

func (c *checker) source() {
	s := c.r.Source
	if dist := c.r.Image.Distribution; s.Type != dist && slices.Contains(distros, dist) {
		c.fail("source.type", "%q does not match image.distribution %q", s.Type, dist)
	}
	switch {
	case s.Debian != nil:
		c.mirror(s.Debian.Mirror)
		c.match("source.suite", s.Debian.Suite, suite, "a suite like bookworm")
		if len(s.Debian.Components) == 0 {
			c.fail("source.components", "want at least one component, e.g. main")
		}
		c.names("source.components", s.Debian.Components, component, "a component like main")
		c.oneOf("source.variant", s.Debian.Variant, variants)
		if s.Debian.Keyring == "" {
			c.fail("source.keyring", "want the path of an archive keyring")
		}
		c.fingerprints(s.Debian.Fingerprints) // Ubuntu's default pin when empty
	case s.Fedora != nil:
		c.mirror(s.Fedora.Mirror)
		c.match("source.release", s.Fedora.Release, fedoraRel, "a Fedora release number or rawhide")
		c.oneOf("source.method", s.Fedora.Method, fedoraWays)
		c.key(s.Fedora.Key, s.Fedora.Fingerprints)
	case s.Gentoo != nil:
		c.mirror(s.Gentoo.Mirror)
		c.match("source.flavor", s.Gentoo.Flavor, flavor, "a stage3 flavor like openrc or systemd")
		c.key(s.Gentoo.Key, s.Gentoo.Fingerprints)
		c.url("source.key_server", s.Gentoo.KeyServer)
	}
}

// mirror accepts an empty value: the build then uses the command line's,
// the host's or the distribution's default mirror.
func (c *checker) mirror(m string) { c.url("source.mirror", m) }

// url accepts an empty value (the default) or an http, https or file URL.
func (c *checker) url(key, m string) {
	if m == "" {
		return
	}
	u, err := url.Parse(m)
	if err != nil || !(u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "file") ||
		(u.Scheme != "file" && u.Host == "") {
		c.fail(key, "want an http, https or file URL, got %q", m)
	}
}

// key wants the signing keys pinned by fingerprint, and an override key
// file, when named, kept with the recipes in keys/.
func (c *checker) key(k string, fingerprints []string) {
	if k != "" && (path.IsAbs(k) || !strings.HasPrefix(path.Clean(k), "keys/")) {
		c.fail("source.key", "want a file under keys/ beside the recipe, got %q", k)
	}
	if len(fingerprints) == 0 {
		c.fail("source.fingerprints", "missing: pin the signing keys' fingerprints (40 hex digits each, as the distribution publishes them)")
	}
	c.fingerprints(fingerprints)
}

// fingerprints checks each pin's form; an empty list passes.
func (c *checker) fingerprints(fingerprints []string) {
	for i, fp := range fingerprints {
		if !fingerprint.MatchString(strings.ReplaceAll(fp, " ", "")) {
			c.fail(fmt.Sprintf("source.fingerprints[%d]", i), "want an OpenPGP key fingerprint (40 or 64 hex digits), got %q", fp)
		}
	}
}

func (c *checker) packages() {
	p := c.r.Packages
	c.names("packages.install", p.Install, pkgName, "a package name")
	c.names("packages.remove", p.Remove, pkgName, "a package name")
	for i, name := range p.Remove {
		if slices.Contains(p.Install, name) {
			c.fail(fmt.Sprintf("packages.remove[%d]", i), "%q is also in packages.install", name)
		}
	}
}

func (c *checker) files() {
	seen := map[string]int{}
	for i, f := range c.r.Files {
		p := fmt.Sprintf("files[%d]", i)
		switch {
		case f.Path == "":
			c.fail(p+".path", "missing: want the absolute path in the image")
		case !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/":
			c.fail(p+".path", "want a clean absolute path like /etc/motd, got %q", f.Path)
		default:
			if j, dup := seen[f.Path]; dup {
				c.fail(p+".path", "%q is already written by files[%d]", f.Path, j)
			}
			seen[f.Path] = i
		}
		if (f.Content == nil) == (f.Copy == "") {
			c.fail(p, "want exactly one of content or copy")
		}
		if f.Copy != "" && path.IsAbs(f.Copy) {
			c.fail(p+".copy", "want a path relative to the recipe file, got %q", f.Copy)
		}
		c.match(p+".owner", f.Owner, owner, "user:group")
	}
}

func (c *checker) users() {
	c.login("users.root", c.r.Users.Root)
	for i, u := range c.r.Users.Extra {
		p := fmt.Sprintf("users.extra[%d]", i)
		if c.match(p+".name", u.Name, account, "a user name like alice") && u.Name == "root" {
			c.fail(p+".name", "root is configured under users.root")
		}
		if j, dup := earlier(c.r.Users.Extra, i, func(u User) string { return u.Name }); dup {
			c.fail(p+".name", "%q repeats users.extra[%d]", u.Name, j)
		}
		c.names(p+".groups", u.Groups, account, "a group name")
		if !path.IsAbs(u.Shell) {
			c.fail(p+".shell", "want an absolute path like /bin/bash, got %q", u.Shell)
		}
		c.names(p+".ssh_keys", u.SSHKeys, sshKey, "one public key line like \"ssh-ed25519 AAAA… comment\"")
		c.login(p, u.Login)
	}
}

func (c *checker) login(p string, l Login) {
	if l.PasswordHash == "" {
		return
	}
	if l.Locked {
		c.fail(p, "want password_hash or locked: true, not both")
	}
	c.match(p+".password_hash", l.PasswordHash, cryptHash, "a crypt(3) hash like $y$… (mkpasswd or openssl passwd -6)")
}

func (c *checker) hostname() {
	h := c.r.Hostname
	if hostLabel.MatchString(h) {
		return
	}
	if _, written := c.r.lines["hostname"]; !written {
		if imageName.MatchString(h) { // else image.name's own error says it
			c.fail("hostname", "%q (from image.name) is not a valid host name; set hostname", h)
		}
		return
	}
	c.fail("hostname", "want a host name of letters, digits and inner '-' (at most 63), got %q", h)
}

func (c *checker) network() {
	n := c.r.Network
	c.names("network.dhcp", n.DHCP, ifName, "an interface name like eth0")
	for i, s := range n.Static {
		p := fmt.Sprintf("network.static[%d]", i)
		if c.match(p+".interface", s.Interface, ifName, "an interface name like eth0") {
			if slices.Contains(n.DHCP, s.Interface) {
				c.fail(p+".interface", "%q is also in network.dhcp", s.Interface)
			}
			if j, dup := earlier(n.Static, i, func(s Static) string { return s.Interface }); dup {
				c.fail(p+".interface", "%q repeats network.static[%d]", s.Interface, j)
			}
		}
		if _, err := netip.ParsePrefix(s.Address); err != nil {
			c.fail(p+".address", "want an address with prefix length like 10.0.2.15/24, got %q", s.Address)
		}
		if s.Gateway != "" {
			c.addr(p+".gateway", s.Gateway)
		}
		for j, d := range s.DNS {
			c.addr(fmt.Sprintf("%s.dns[%d]", p, j), d)
		}
	}
}

func (c *checker) addr(p, a string) {
	if _, err := netip.ParseAddr(a); err != nil {
		c.fail(p, "want an IP address, got %q", a)
	}
}

func (c *checker) fstab() {
	roots := 0
	for i, m := range c.r.Fstab {
		p := fmt.Sprintf("fstab[%d]", i)
		c.match(p+".device", m.Device, fstabField, "a device like "+RootMount().Device)
		c.match(p+".type", m.Type, fstabField, "a filesystem type like ext4")
		c.match(p+".options", m.Options, fstabField, "mount options without spaces")
		if m.Mountpoint != "none" && (!path.IsAbs(m.Mountpoint) || !fstabField.MatchString(m.Mountpoint)) {
			c.fail(p+".mountpoint", "want an absolute path without spaces, or none, got %q", m.Mountpoint)
		}
		if m.Mountpoint == "/" {
			roots++
		}
	}
	if roots != 1 {
		c.fail("fstab", "want exactly one entry mounting /, found %d", roots)
	}
}

func (c *checker) scripts() {
	for i, s := range c.r.Scripts {
		p := fmt.Sprintf("scripts[%d]", i)
		c.match(p+".name", s.Name, scriptName, "a name of letters, digits, '.', '_' or '-'")
		if j, dup := earlier(c.r.Scripts, i, func(s Script) string { return s.Name }); dup {
			c.fail(p+".name", "%q repeats scripts[%d]", s.Name, j)
		}
		if strings.TrimSpace(s.Run) == "" {
			c.fail(p+".run", "want a shell command")
		}
	}
}

func (c *checker) size() {
	s := c.r.Size
	if !s.Auto() && s.Bytes < MinSize {
		c.fail("size", "%v is too small for an ext4 root, want at least %v", s, Size{Bytes: MinSize})
	}
	if !s.Auto() && c.r.Headroom != (Headroom{}) {
		c.fail("headroom", "only applies to size: auto")
	}
}
