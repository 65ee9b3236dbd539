package bootstrap

import (
	"fmt"
	"net/url"
	"os"
	"strings"
)

// Environment variables naming the Fedora and Gentoo mirrors (Debian's is
// archive.MirrorEnv).
const (
	FedoraMirrorEnv = "COIMAGE_FEDORA_MIRROR"
	GentooMirrorEnv = "COIMAGE_GENTOO_MIRROR"
)

// The distributions' own download services, used when nothing else names
// a mirror: they redirect to nearby mirrors or serve the files directly.
const (
	FedoraDefaultMirror = "https://dl.fedoraproject.org/pub/fedora/linux"
	GentooDefaultMirror = "https://distfiles.gentoo.org"
)

// pickMirror applies the precedence flag > $env > recipe > default, as
// Debian's mirror choice does, and returns the base URL without a
// trailing slash.
func pickMirror(flag, env, fromRecipe, def, distro string) (string, error) {
	m := flag
	if m == "" {
		m = os.Getenv(env)
	}
	if m == "" {
		m = fromRecipe
	}
	if m == "" {
		m = def
	}
	u, err := url.Parse(m)
	if err != nil || !(u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "file") {
		return "", fmt.Errorf("%s mirror %q: want an http, https or file URL", distro, m)
	}
	return strings.TrimRight(m, "/"), nil
}
