package rpm

import "testing"

// Cases from rpm's tests/rpmvercmp.at.
func TestVercmp(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0}, {"1.0", "2.0", -1}, {"2.0", "1.0", 1},
		{"2.0.1", "2.0.1", 0}, {"2.0", "2.0.1", -1}, {"2.0.1a", "2.0.1", 1},
		{"5.5p1", "5.5p2", -1}, {"5.5p10", "5.5p1", 1}, {"10xyz", "10.1xyz", -1},
		{"xyz10", "xyz10.1", -1}, {"xyz.4", "8", -1}, {"8", "xyz.4", 1},
		{"a", "1", -1}, {"1", "a", 1}, {"1.0010", "1.9", 1}, {"1.05", "1.5", 0},
		{"1.0", "1", 1}, {"2.50", "2.5", 1}, {"fc4", "fc.4", 0}, {"FC5", "fc4", -1},
		{"2a", "2.0", -1}, {"1.0", "1.fc4", 1}, {"3.0.0_fc", "3.0.0.fc", 0},
		{"1.0~rc1", "1.0~rc1", 0}, {"1.0~rc1", "1.0", -1}, {"1.0~rc1", "1.0~rc2", -1},
		{"1.0~rc1~git123", "1.0~rc1", -1}, {"1.0^", "1.0", 1}, {"1.0^git1", "1.0^git2", -1},
		{"1.0^git1", "1.01", -1}, {"1.0^20160101", "1.0.1", -1}, {"1.0~rc1^git1", "1.0~rc1", 1},
		{"1.0^git1~pre", "1.0^git1", -1},
	} {
		if got := Vercmp(c.a, c.b); got != c.want {
			t.Errorf("Vercmp(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestOverlaps(t *testing.T) {
	for _, c := range []struct {
		pf   int
		pv   string
		rf   int
		rv   string
		want bool
	}{
		{Equal, "2.40-3.fc44", Greater | Equal, "2.40", true},
		{Equal, "2.39-1", Greater | Equal, "2.40", false},
		{Equal, "1:1.0-1", Greater, "2.0", true},
		{0, "", Less, "1", true},
		{Equal, "3.0-1", Less, "3.0", false},
		{Equal, "3.0-1", Equal, "3.0-2", false},
		{Equal, "3.0-1", Equal, "3.0", true},
	} {
		if got := Overlaps(c.pf, ParseEVR(c.pv), c.rf, ParseEVR(c.rv)); got != c.want {
			t.Errorf("Overlaps(%d %q, %d %q) = %v", c.pf, c.pv, c.rf, c.rv, got)
		}
	}
}
