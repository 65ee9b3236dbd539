package archive

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a Debian package version, [epoch:]upstream[-revision].
type Version struct {
	Epoch    uint32
	Upstream string
	Revision string
}

// ParseVersion parses a version the way dpkg does: the epoch is everything
// before the first colon, the revision everything after the last hyphen.
func ParseVersion(s string) (Version, error) {
	var v Version
	bad := func(why string) (Version, error) {
		return Version{}, fmt.Errorf("version %q: %s: %w", s, why, ErrFormat)
	}
	rest := strings.TrimSpace(s)
	if rest == "" {
		return bad("empty")
	}
	if strings.ContainsAny(rest, " \t\n") {
		return bad("contains whitespace")
	}
	if e, after, ok := strings.Cut(rest, ":"); ok {
		n, err := strconv.ParseUint(e, 10, 31)
		if err != nil {
			return bad("epoch is not a small number")
		}
		if after == "" {
			return bad("nothing after the epoch")
		}
		v.Epoch, rest = uint32(n), after
	}
	if i := strings.LastIndexByte(rest, '-'); i >= 0 {
		v.Revision = rest[i+1:]
		rest = rest[:i]
		if v.Revision == "" {
			return bad("empty revision")
		}
	}
	v.Upstream = rest
	if v.Upstream == "" {
		return bad("empty upstream version")
	}
	if strings.IndexFunc(v.Upstream, func(r rune) bool { return !versionChar(r) && !strings.ContainsRune("-:", r) }) >= 0 {
		return bad("invalid character in upstream version")
	}
	if strings.IndexFunc(v.Revision, func(r rune) bool { return !versionChar(r) }) >= 0 {
		return bad("invalid character in revision")
	}
	return v, nil
}

// versionChar reports characters allowed anywhere in a version.
func versionChar(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune(".+~", r)
}

func (v Version) String() string {
	s := v.Upstream
	// An upstream version may hold a colon only after an epoch, so "0:"
	// stays when it does.
	if v.Epoch > 0 || strings.Contains(v.Upstream, ":") {
		s = strconv.FormatUint(uint64(v.Epoch), 10) + ":" + s
	}
	if v.Revision != "" {
		s += "-" + v.Revision
	}
	return s
}

// Compare returns -1, 0 or +1 as v sorts before, equal to or after w in
// dpkg's order: epochs numerically, then upstream, then revision.
func (v Version) Compare(w Version) int {
	switch {
	case v.Epoch < w.Epoch:
		return -1
	case v.Epoch > w.Epoch:
		return 1
	}
	if c := compareFragment(v.Upstream, w.Upstream); c != 0 {
		return c
	}
	return compareFragment(v.Revision, w.Revision)
}

// compareFragment compares upstream versions or revisions: alternating runs
// of non-digits, compared character by character with '~' lowest and
// letters before other symbols, and digits, compared as numbers.
func compareFragment(a, b string) int {
	for a != "" || b != "" {
		for a != "" && !isDigit(a[0]) || b != "" && !isDigit(b[0]) {
			ca, cb := charOrder(a), charOrder(b)
			if ca != cb {
				return sign(ca - cb)
			}
			a, b = a[1:], b[1:]
		}
		var na, nb string
		na, a = digitRun(a)
		nb, b = digitRun(b)
		// Numbers of any length: without leading zeros, longer is bigger,
		// equal lengths compare lexically.
		if len(na) != len(nb) {
			return sign(len(na) - len(nb))
		}
		if c := strings.Compare(na, nb); c != 0 {
			return c
		}
	}
	return 0
}

// charOrder ranks the first character of s for compareFragment; an
// exhausted string ranks like a digit (the end of the non-digit run).
func charOrder(s string) int {
	if s == "" {
		return 0
	}
	c := s[0]
	switch {
	case isDigit(c):
		return 0
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		return int(c)
	case c == '~':
		return -1
	default:
		return int(c) + 256
	}
}

// digitRun splits the leading digits (leading zeros dropped) off s.
func digitRun(s string) (num, rest string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return strings.TrimLeft(s[:i], "0"), s[i:]
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
