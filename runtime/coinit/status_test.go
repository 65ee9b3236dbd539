package coinit

import (
	"fmt"
	"testing"
)

// FuzzParseStatus: the status channel is written by the guest, so any
// line gives an event or ok=false; an exit event reads back the same when
// printed as guest.go reports it.
func FuzzParseStatus(f *testing.F) {
	for _, s := range []string{statusUp, statusExit + " 0", statusExit + " 137\r\n", statusError + " mounting /: no such device", "coinit-exit x", "login:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		ev, ok := ParseStatus(line)
		if !ok || !ev.Exited {
			return
		}
		again, ok := ParseStatus(fmt.Sprintf("%s %d", statusExit, ev.Code))
		if !ok || again != ev {
			t.Fatalf("%q: %+v reads back as %+v", line, ev, again)
		}
	})
}

func TestParseStatus(t *testing.T) {
	for line, want := range map[string]Event{
		"coinit-up":              {Up: true},
		"coinit-exit 3\r\n":      {Exited: true, Code: 3},
		"coinit-error no root\n": {Err: "no root"},
	} {
		if got, ok := ParseStatus(line); !ok || got != want {
			t.Errorf("%q: %+v, %v; want %+v", line, got, ok, want)
		}
	}
	for _, line := range []string{"coinit-exit", "coinit-exit 1x", "coinit-upx", "Debian GNU/Linux 13"} {
		if ev, ok := ParseStatus(line); ok {
			t.Errorf("%q: accepted as %+v", line, ev)
		}
	}
}
