package recipe

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Size is the image size: Bytes, or 0 for "auto" (the installed tree plus
// Headroom), the default.
type Size struct {
	Bytes int64
}

// MinSize is the smallest fixed size accepted: below it ext4 with a journal
// has no room left for even a minbase system.
const MinSize = 16 << 20

// Auto reports whether the builder sizes the image from its contents.
func (s Size) Auto() bool { return s.Bytes == 0 }

func (s Size) String() string {
	if s.Auto() {
		return "auto"
	}
	return formatBytes(s.Bytes)
}

// MarshalText gives the canonical form, so "2G" and "2048M" hash alike.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *Size) parseScalar(text string) error {
	if text == "auto" {
		*s = Size{}
		return nil
	}
	n, ok := parseBytes(text)
	if !ok {
		return fmt.Errorf("want a size like 2G or auto, got %q", text)
	}
	*s = Size{Bytes: n}
	return nil
}

// Headroom is the free space added to an auto-sized image: Percent of the
// installed tree, or Bytes. The zero value means "not set"; defaults make it
// DefaultHeadroomPercent.
type Headroom struct {
	Percent int
	Bytes   int64
}

// DefaultHeadroomPercent leaves room for a package update or two.
const DefaultHeadroomPercent = 20

func (h Headroom) String() string {
	if h.Bytes > 0 {
		return formatBytes(h.Bytes)
	}
	return strconv.Itoa(h.Percent) + "%"
}

// MarshalText gives the canonical form, as for Size.
func (h Headroom) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

func (h *Headroom) parseScalar(text string) error {
	if p, ok := strings.CutSuffix(text, "%"); ok {
		n, err := strconv.Atoi(p)
		if err == nil && n > 0 && n <= 1000 && p[0] != '+' {
			*h = Headroom{Percent: n}
			return nil
		}
	} else if n, ok := parseBytes(text); ok {
		*h = Headroom{Bytes: n}
		return nil
	}
	return fmt.Errorf("want a percentage like 20%% (1–1000) or a size like 512M, got %q", text)
}

// units are binary multiples, largest first; "2G" means 2 GiB, as for
// truncate(1).
var units = [...]struct {
	suffix string
	shift  uint
}{{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}, {"", 0}}

// parseBytes reads a positive size: decimal digits, then optionally one of
// K, M, G, T (any case, optionally followed by "iB").
func parseBytes(text string) (int64, bool) {
	i := len(text) - len(strings.TrimLeft(text, "0123456789"))
	num, unit := text[:i], strings.ToUpper(text[i:])
	if u, ok := strings.CutSuffix(unit, "IB"); ok && u != "" {
		unit = u
	}
	for _, u := range units {
		if u.suffix != unit || num == "" {
			continue
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n <= 0 || n > math.MaxInt64>>u.shift {
			return 0, false
		}
		return n << u.shift, true
	}
	return 0, false
}

// formatBytes writes n with the largest unit that divides it exactly.
func formatBytes(n int64) string {
	for _, u := range units {
		if n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.suffix
		}
	}
	panic("unreachable: every n is a multiple of 1")
}
