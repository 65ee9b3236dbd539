//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/colinux-ng/colinux/driver/qemu"
	"github.com/colinux-ng/colinux/driver/qemu/qemutest"
	"github.com/colinux-ng/colinux/driver/uml/umltest"
	"github.com/colinux-ng/colinux/internal/testutil"
	"github.com/colinux-ng/colinux/runtime"
)

// monitor is one way corun runs a guest. The tests of what every monitor
// must do run on each (forEachMonitor), as subtests named after it.
type monitor struct {
	name     string   // the subtests' name: uml, qemu (TCG) or qemu-kvm
	kind     string   // uml or qemu: the monitor ls and run --json report
	flags    []string // corun run's flags choosing it
	settings []string // and its settings
	env      []string // added to corun's environment
	tcg      bool     // QEMU emulates the CPU, and corun warns so
	// The guest kernel's release and UML mode, as corun reports them.
	release, mode string
	// procs is how many processes a running instance has at least with
	// its directory on their command lines: the PID-1 helper and the
	// monitor, and under UML in ptrace mode the kernel's helpers (in
	// seccomp mode they are [uml-userspace], without it).
	procs int
	cpus  int // CPUs the tests give a guest: UML has one
}

// monitors are UML, QEMU emulating the CPU (which every host can run),
// and QEMU with KVM, which skips, saying why, where KVM does not work.
var monitors = []struct {
	name  string
	setup func(*testing.T) monitor
}{{"uml", umlMonitor}, {"qemu", qemuTCG}, {"qemu-kvm", qemuKVM}}

// forEachMonitor runs test as a parallel subtest on each monitor.
func forEachMonitor(t *testing.T, test func(t *testing.T, m monitor)) {
	for _, mon := range monitors {
		t.Run(mon.name, func(t *testing.T) {
			t.Parallel()
			m := mon.setup(t)
			m.name = mon.name
			test(t, m)
		})
	}
}

func umlMonitor(t *testing.T) monitor {
	k := umltest.BootKernel(t)
	return monitor{kind: "uml", settings: []string{"kernel=" + k.Path},
		release: k.Version, mode: umltest.Mode(k.Version), procs: map[string]int{"ptrace": 3, "seccomp": 2}[umltest.Mode(k.Version)], cpus: 1}
}

// qemuTCG is QEMU with CORUN_QEMU_ACCEL=tcg, and corun's own choice of
// the cloud kernel: the one in the runtime cache, which the tests share
// with the user (see TestMain), fetched on first use.
func qemuTCG(t *testing.T) monitor {
	m := qemuMonitor(t)
	m.env, m.tcg = []string{qemu.AccelEnv + "=tcg"}, true
	return m
}

func qemuMonitor(t *testing.T) monitor {
	testutil.RequireTool(t, qemu.Binary())
	testutil.RequireTool(t, "qemu-img")
	cache, err := runtime.DefaultCache()
	if err != nil {
		t.Fatal(err)
	}
	k := qemutest.Kernel(t, cache)
	qemutest.Virtiofsd(t, cache) // for cofs
	return monitor{kind: "qemu", flags: []string{"--monitor", "qemu"}, release: k.Release, procs: 2, cpus: 2}
}

// qemuKVM is QEMU as corun picks its accelerator, where that is KVM:
// /dev/kvm passes corun's probe and no guest hung in it since the host
// booted. A first guest checks that Linux boots in it; one that hangs
// marks KVM stalled for corun, and the tests skip.
func qemuKVM(t *testing.T) monitor {
	m := qemuMonitor(t)
	kvmOnce.Do(func() {
		if kvm, why := qemu.Accel(); !kvm {
			kvmSkip = "QEMU picks TCG: " + why
			return
		}
		img := umltest.Image(t, t.TempDir(), nil)
		_, errOut, code := m.run(t, m.runArgs(img, []string{"--snapshot"}, "--", "true")...)
		switch {
		case code == 0:
		case strings.Contains(errOut, "did not reach coinit"):
			kvmSkip = "KVM does not boot Linux here: " + errOut
		default: // a failure of corun's, not of KVM
			kvmFail = fmt.Sprintf("first KVM guest: exit %d: %s", code, errOut)
		}
	})
	if kvmFail != "" {
		t.Fatal(kvmFail)
	}
	if kvmSkip != "" {
		t.Skip(kvmSkip)
	}
	return m
}

var (
	kvmOnce          sync.Once
	kvmSkip, kvmFail string
)

// runArgs is corun run with flags, then the monitor's flags, the image,
// the monitor's settings and rest (more settings, -- and a command).
func (m monitor) runArgs(img string, flags []string, rest ...string) []string {
	return slices.Concat([]string{"run"}, flags, m.flags, []string{img}, m.settings, rest)
}

// run runs corun as run does, in the monitor's environment.
func (m monitor) run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runEnv(t, "", m.env, args...)
}

// shareRuntime makes the test's runtime cache use the user's cloud
// kernels, virtiofsd and KVM stall marker, which are big to fetch (or
// slow to find out) and the same for every test; the rest of the cache —
// corun's initramfs — stays the test's own.
func shareRuntime(testCache, userCache string) error {
	for _, p := range []string{"colinux/runtime/qemu", "colinux/runtime/virtiofsd", "colinux/kvm-stalled"} {
		dest := filepath.Join(userCache, p)
		if filepath.Base(p) != "kvm-stalled" {
			if err := os.MkdirAll(dest, 0o755); err != nil {
				return err
			}
		}
		link := filepath.Join(testCache, p)
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(dest, link); err != nil {
			return err
		}
	}
	return nil
}
