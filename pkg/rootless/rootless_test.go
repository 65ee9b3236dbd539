package rootless

import (
	"strings"
	"testing"
)

func TestParseSubIDs(t *testing.T) {
	const file = "alice:100000:65536\n1001:200000:65536\nsmall:300000:1000\nbad:x:65536\n"
	for _, tc := range []struct {
		name, uid string
		want      Range
		err       string
	}{
		{"alice", "1000", Range{100000, 65536}, ""},
		{"bob", "1001", Range{200000, 65536}, ""}, // by uid
		{"small", "1002", Range{}, "fewer than 65535 ids"},
		{"bad", "1003", Range{}, "no range for bad"},
		{"carol", "1004", Range{}, "no range for carol"},
	} {
		got, err := parseSubIDs(strings.NewReader(file), tc.name, tc.uid)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want error %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v %v, want %+v", tc.name, got, err, tc.want)
		}
	}
}
