package cobd

import "testing"

func TestDevice(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{
		{0, RootDevice},
		{1, "/dev/ubdb"},
		{MaxDevices - 1, "/dev/ubdp"},
		{MaxDevices, ""},
		{-1, ""},
	} {
		if got := Device(tc.n); got != tc.want {
			t.Errorf("Device(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
