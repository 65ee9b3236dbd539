package recipe

import "github.com/colinux-ng/colinux/pkg/cobd"

// Defaults for fields a recipe leaves out.
const (
	DefaultInterface = "eth0" // the runtime's first conet device
	DefaultOwner     = "root:root"
	DefaultShell     = "/bin/bash"
	DefaultVariant   = "minbase"
	DefaultMethod    = "container" // Fedora
	DefaultFlavor    = "openrc"    // Gentoo's own default stage3
)

// RootMount is the fstab entry a recipe gets when it lists none: the root
// filesystem on cobd0.
func RootMount() Mount {
	return Mount{Device: cobd.RootDevice, Mountpoint: "/", Type: "ext4", Options: "errors=remount-ro"}
}

// applyDefaults fills in every field left empty. It runs after templating
// and before validation, so validation sees the effective recipe and Hash
// covers what is really built.
func (r *Recipe) applyDefaults() {
	if r.Image.Architecture == "" {
		r.Image.Architecture = "amd64"
		if r.Image.Distribution == Fedora {
			r.Image.Architecture = "x86_64"
		}
	}
	if r.Source.Type == "" { // no source section at all
		r.Source.Type = r.Image.Distribution
	}
	switch r.Source.Type {
	case Debian, Ubuntu:
		if r.Source.Debian == nil {
			r.Source.Debian = &DebianSource{}
		}
		s := r.Source.Debian
		s.Suite = or(s.Suite, r.Image.Release)
		if s.Components == nil {
			s.Components = []string{"main"}
		}
		s.Variant = or(s.Variant, DefaultVariant)
		keyring := DefaultDebianKeyring
		if r.Source.Type == Ubuntu {
			keyring = DefaultUbuntuKeyring
		}
		s.Keyring = or(s.Keyring, keyring)
	case Fedora:
		if r.Source.Fedora == nil {
			r.Source.Fedora = &FedoraSource{}
		}
		s := r.Source.Fedora
		s.Release = or(s.Release, r.Image.Release)
		s.Method = or(s.Method, DefaultMethod)
	case Gentoo:
		if r.Source.Gentoo == nil {
			r.Source.Gentoo = &GentooSource{}
		}
		r.Source.Gentoo.Flavor = or(r.Source.Gentoo.Flavor, DefaultFlavor)
	}
	for i := range r.Files {
		f := &r.Files[i]
		if f.Mode == nil {
			m := DefaultMode
			f.Mode = &m
		}
		f.Owner = or(f.Owner, DefaultOwner)
	}
	r.Users.Root.applyDefaults()
	for i := range r.Users.Extra {
		u := &r.Users.Extra[i]
		u.Shell = or(u.Shell, DefaultShell)
		u.Login.applyDefaults()
	}
	r.Hostname = or(r.Hostname, r.Image.Name)
	// nil means "not written"; an explicit empty list turns the default off.
	if r.Network.DHCP == nil && r.Network.Static == nil {
		r.Network.DHCP = []string{DefaultInterface}
	}
	if r.Console.Getty == nil {
		r.Console.Getty = []string{ConsoleTTY, SerialTTY}
	}
	if r.Fstab == nil {
		r.Fstab = []Mount{RootMount()}
	}
	for i := range r.Fstab {
		r.Fstab[i].Options = or(r.Fstab[i].Options, "defaults")
	}
	if r.Size.Auto() && r.Headroom == (Headroom{}) {
		r.Headroom = Headroom{Percent: DefaultHeadroomPercent}
	}
}

// applyDefaults locks an account that has no password: safe by default,
// and SSH keys still work.
func (l *Login) applyDefaults() {
	if l.PasswordHash == "" {
		l.Locked = true
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
