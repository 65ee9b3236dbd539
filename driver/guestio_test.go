package driver

import (
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/runtime/coinit"
)

// A guest writing status lines without end keeps corun's memory bounded:
// only the first "up" and the first exit are kept, which is what Outcome
// reads.
func TestPumpGuestKeepsFirstEvents(t *testing.T) {
	conR, conW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	g := PumpGuest(&Instance{Output: io.Discard}, conR, statusR, io.Discard)
	conW.Close()
	go func() {
		defer statusW.Close()
		fmt.Fprintln(statusW, "coinit-up")
		fmt.Fprintln(statusW, "coinit-exit 3")
		fmt.Fprint(statusW, strings.Repeat("coinit-up\ncoinit-exit 0\ncoinit-error x\n", 20000))
	}()
	<-g.Up()
	got := g.Drain()
	want := []coinit.Event{{Up: true}, {Exited: true, Code: 3}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}
