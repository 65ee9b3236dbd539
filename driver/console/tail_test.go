package console

import (
	"fmt"
	"strings"
	"testing"
)

// TestReport: a report is the last lines, with the kernel's panic line
// first when its stack trace pushed it out of them.
func TestReport(t *testing.T) {
	trace := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "[ 1.%03d]  frame %d\r\n", i, i)
		}
		return b.String()
	}
	const panicLine = "[ 1.000] Kernel panic - not syncing: sysrq triggered crash"
	for _, tc := range []struct {
		name, out, want string
	}{
		{"short", "a\nb\n", "a\nb"},
		{"no panic", "boot\n" + trace(3), "[ 1.001]  frame 1\n[ 1.002]  frame 2"},
		{"panic in the last lines", "boot\n" + panicLine + "\n" + trace(1), panicLine + "\n[ 1.000]  frame 0"},
		{"panic scrolled off", "boot\n" + panicLine + "\n" + trace(5), panicLine + "\n…\n[ 1.003]  frame 3\n[ 1.004]  frame 4"},
	} {
		tail := NewTail(1 << 10)
		tail.Write([]byte(tc.out))
		if got := tail.Report(2); got != tc.want {
			t.Errorf("%s: Report(2) = %q, want %q", tc.name, got, tc.want)
		}
	}
}
