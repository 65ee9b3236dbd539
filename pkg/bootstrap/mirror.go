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

// pickMirror applies the precedence flag > $env > recipe, as Debian's
// mirror choice does, and returns the base URL without a trailing slash.
func pickMirror(flag, env, fromRecipe, distro string) (string, error) {
	m := flag
	if m == "" {
		m = os.Getenv(env)
	}
	if m == "" {
		m = fromRecipe
	}
	if m == "" {
		return "", fmt.Errorf("%w for %s: give coimage build --mirror URL, set $%s, or set source.mirror in the recipe (a mirror's base URL, the directory holding releases/)",
			ErrNoMirror, distro, env)
	}
	u, err := url.Parse(m)
	if err != nil || !(u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "file") {
		return "", fmt.Errorf("%s mirror %q: want an http, https or file URL", distro, m)
	}
	return strings.TrimRight(m, "/"), nil
}
