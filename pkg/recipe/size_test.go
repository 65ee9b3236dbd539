package recipe

import "testing"

func TestSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64 // -1: rejected; 0: auto
		out  string
	}{
		{"auto", 0, "auto"},
		{"2G", 2 << 30, "2G"},
		{"2048M", 2 << 30, "2G"},
		{"2gib", 2 << 30, "2G"},
		{"1536M", 1536 << 20, "1536M"},
		{"1T", 1 << 40, "1T"},
		{"4096", 4096, "4K"},
		{"100", 100, "100"},
		{"0", -1, ""},
		{"-1G", -1, ""},
		{"2 G", -1, ""},
		{"G", -1, ""},
		{"2iB", -1, ""},
		{"2X", -1, ""},
		{"1.5G", -1, ""},
		{"8388608T", -1, ""}, // 2^63 bytes overflows
		{"8388607T", 8388607 << 40, "8388607T"},
		{"", -1, ""},
	} {
		var s Size
		err := s.parseScalar(tc.in)
		switch {
		case tc.want < 0 && err == nil:
			t.Errorf("%q: accepted as %d", tc.in, s.Bytes)
		case tc.want >= 0 && (err != nil || s.Bytes != tc.want || s.String() != tc.out):
			t.Errorf("%q: got %d %q, %v; want %d %q", tc.in, s.Bytes, s, err, tc.want, tc.out)
		}
	}
}

func TestHeadroom(t *testing.T) {
	for in, want := range map[string]Headroom{
		"20%":   {Percent: 20},
		"1000%": {Percent: 1000},
		"512M":  {Bytes: 512 << 20},
	} {
		var h Headroom
		if err := h.parseScalar(in); err != nil || h != want || h.String() != in {
			t.Errorf("%q: got %+v %q, %v", in, h, h, err)
		}
	}
	for _, in := range []string{"0%", "1001%", "+5%", "%", "-5%", "20 %", "auto"} {
		var h Headroom
		if h.parseScalar(in) == nil {
			t.Errorf("%q accepted as %+v", in, h)
		}
	}
}

func TestMode(t *testing.T) {
	for in, want := range map[string]Mode{"0644": 0o644, "644": 0o644, "0o755": 0o755, "4755": 0o4755, "0000": 0} {
		var m Mode
		if err := m.parseScalar(in); err != nil || m != want {
			t.Errorf("%q: got %v, %v", in, m, err)
		}
	}
	for _, in := range []string{"rw-r--r--", "0888", "64", "17777", "0o", "", "-644"} {
		var m Mode
		if m.parseScalar(in) == nil {
			t.Errorf("%q accepted as %v", in, m)
		}
	}
}
