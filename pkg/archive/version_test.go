package archive

import (
	"errors"
	"testing"
)

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"1.0", "1.1", -1},
		{"1.2", "1.10", -1},
		{"1.002", "1.2", 0},
		{"0:1.0", "1.0", 0},
		{"1:0.1", "2.0", 1},
		{"2:1.0", "10:0.1", -1},
		{"1.0~rc1", "1.0", -1},
		{"1.0~rc1", "1.0~rc2", -1},
		{"1.0~~", "1.0~", -1},
		{"1.0~", "1.0", -1},
		{"1.0", "1.0+b1", -1},
		{"1.0", "1.0.0", -1},
		{"1.0a", "1.0", 1},
		{"1.0a", "1.0+", -1}, // letters sort before non-letters
		{"1.0-1", "1.0-2", -1},
		{"1.0-1", "1.0", 1},
		{"1.0-0", "1.0", 0}, // "0" and "" revisions compare equal, as in dpkg
		{"1.0-1~bpo1", "1.0-1", -1},
		{"1.0-1+deb12u1", "1.0-1", 1},
		{"1.0-1+deb12u2", "1.0-1+deb12u10", -1},
		{"2.36-9+deb12u4", "2.36-9+deb12u10", -1},
		{"1:2.38.1-5+deb12u3", "2.38.1-5+deb12u3", 1},
		{"1.2-3-4", "1.2-3-5", -1}, // hyphens allowed in upstream; revision after the last
		{"1.2-3-4", "1.2-4-1", -1},
		{"1:1:1", "1:1:2", -1},                               // colons allowed in upstream with an epoch
		{"12345678901234567890", "12345678901234567891", -1}, // no overflow
		{"000010", "9", 1},
		{"a", "b", -1},
		{"1.0.", "1.0", 1},
		{"1.0~beta", "1.0~alpha", 1},
		{"7.88.1-10+deb12u12", "7.88.1-10+deb12u5", 1},
	}
	for _, tt := range tests {
		a, err := ParseVersion(tt.a)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParseVersion(tt.b)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Compare(b); got != tt.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := b.Compare(a); got != -tt.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestParseVersion(t *testing.T) {
	good := map[string]Version{
		"1.0":            {Upstream: "1.0"},
		"1:2.3-4":        {Epoch: 1, Upstream: "2.3", Revision: "4"},
		"2.3-4-5":        {Upstream: "2.3-4", Revision: "5"},
		"0:1.0~rc1+dfsg": {Upstream: "1.0~rc1+dfsg"},
	}
	for s, want := range good {
		got, err := ParseVersion(s)
		if err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %+v, %v; want %+v", s, got, err, want)
		}
	}
	if got := (Version{Epoch: 1, Upstream: "2.3", Revision: "4"}).String(); got != "1:2.3-4" {
		t.Errorf("String = %q", got)
	}
	for _, s := range []string{"", " ", "1.0 2", "a:1.0", "-1:1.0", "1:", "1.0-", ":1.0", "-1", "1.0_1", "1.0-1:2", "99999999999:1"} {
		if _, err := ParseVersion(s); !errors.Is(err, ErrFormat) {
			t.Errorf("ParseVersion(%q) error = %v, want ErrFormat", s, err)
		}
	}
}
