package driver

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/driver/config"
)

// TestOutcomeInitSegv: a UML kernel whose first process dies of SIGSEGV
// as it starts gets an error that says why that happens and what runs.
func TestOutcomeInitSegv(t *testing.T) {
	waitErr := &exec.ExitError{}
	for _, tc := range []struct {
		monitor, tail, want string
	}{
		{"uml", "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b\n", "corun kernel --refresh"},
		{"", "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b\n", "CPUs with AMX"},
		{"uml", "Kernel panic - not syncing: VFS: Unable to mount root fs\n", ""},
		{"qemu", "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b\n", ""},
	} {
		_, err := Outcome(&config.Config{Monitor: tc.monitor}, nil, waitErr, false, tc.tail)
		var ge *GuestError
		if !errors.As(err, &ge) || !errors.Is(err, ErrKernelStart) {
			t.Fatalf("%s %q: %v, want a kernel start error", tc.monitor, tc.tail, err)
		}
		hinted := strings.Contains(ge.Msg, "AMX")
		if tc.want == "" && hinted || tc.want != "" && !strings.Contains(ge.Msg, tc.want) {
			t.Errorf("%s %q: %q, want %q", tc.monitor, tc.tail, ge.Msg, tc.want)
		}
	}
}
