package rpm

import (
	"cmp"
	"strconv"
	"strings"
)

// Vercmp compares two version (or release) strings as rpm's rpmvercmp
// does: alternating digit and letter segments, digits numerically and
// above letters, "~" before everything (pre-releases), "^" after the
// base version (snapshots). It returns -1, 0 or 1.
func Vercmp(a, b string) int {
	if a == b {
		return 0
	}
	for a != "" || b != "" {
		a = strings.TrimLeftFunc(a, isSeparator)
		b = strings.TrimLeftFunc(b, isSeparator)
		if strings.HasPrefix(a, "~") || strings.HasPrefix(b, "~") {
			if !strings.HasPrefix(a, "~") {
				return 1
			}
			if !strings.HasPrefix(b, "~") {
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		if strings.HasPrefix(a, "^") || strings.HasPrefix(b, "^") {
			switch {
			case a == "":
				return -1
			case b == "":
				return 1
			case a[0] != '^':
				return 1
			case b[0] != '^':
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		if a == "" || b == "" {
			break
		}
		class := isAlpha
		if isDigit(rune(a[0])) {
			class = isDigit
		}
		i, j := segment(a, class), segment(b, class)
		if j == 0 { // b's segment is of the other class
			if class(rune('0')) {
				return 1
			}
			return -1
		}
		sa, sb := a[:i], b[:j]
		if class(rune('0')) {
			sa, sb = strings.TrimLeft(sa, "0"), strings.TrimLeft(sb, "0")
			if len(sa) != len(sb) {
				return cmp.Compare(len(sa), len(sb))
			}
		}
		if c := strings.Compare(sa, sb); c != 0 {
			return c
		}
		a, b = a[i:], b[j:]
	}
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	}
	return 1
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }
func isAlpha(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }
func isSeparator(r rune) bool {
	return !isDigit(r) && !isAlpha(r) && r != '~' && r != '^'
}

func segment(s string, class func(rune) bool) int {
	i := 0
	for i < len(s) && class(rune(s[i])) {
		i++
	}
	return i
}

// EVR is a package's [epoch:]version[-release].
type EVR struct {
	Epoch            int64
	Version, Release string
}

// ParseEVR splits "1:2.3-4.fc44"; a missing epoch is 0 and a missing
// release is empty (it then matches any release).
func ParseEVR(s string) EVR {
	var e EVR
	if i := strings.IndexByte(s, ':'); i >= 0 {
		e.Epoch, _ = strconv.ParseInt(s[:i], 10, 64)
		s = s[i+1:]
	}
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		s, e.Release = s[:i], s[i+1:]
	}
	e.Version = s
	return e
}

func (e EVR) String() string {
	s := e.Version
	if e.Release != "" {
		s += "-" + e.Release
	}
	if e.Epoch != 0 {
		s = strconv.FormatInt(e.Epoch, 10) + ":" + s
	}
	return s
}

// Compare orders two EVRs; a release compares only when both have one.
func (e EVR) Compare(o EVR) int {
	if e.Epoch != o.Epoch {
		return cmp.Compare(e.Epoch, o.Epoch)
	}
	if c := Vercmp(e.Version, o.Version); c != 0 {
		return c
	}
	if e.Release == "" || o.Release == "" {
		return 0
	}
	return Vercmp(e.Release, o.Release)
}

// Dependency sense flags (RPMSENSE_LESS, GREATER, EQUAL).
const (
	Less    = 2
	Greater = 4
	Equal   = 8
)

// Overlaps reports whether a provide (flags pf, version pv) satisfies a
// requirement (rf, rv), as rpmdsCompare decides: an unversioned side
// always does; otherwise the two ranges must meet.
func Overlaps(pf int, pv EVR, rf int, rv EVR) bool {
	const senses = Less | Greater | Equal
	if pf&senses == 0 || rf&senses == 0 {
		return true
	}
	switch c := pv.Compare(rv); {
	case c < 0:
		return pf&Greater != 0 || rf&Less != 0
	case c > 0:
		return pf&Less != 0 || rf&Greater != 0
	}
	return pf&rf&senses != 0
}
