package qemu

import (
	"os"
	"strings"
	"testing"
)

// TestKVM: the probe answers within its timeout either way, and says why
// when KVM is unusable.
func TestKVM(t *testing.T) {
	err := KVM()
	t.Logf("KVM() = %v", err)
	if _, statErr := os.Stat(kvmDevice); statErr != nil && err == nil {
		t.Fatalf("KVM() = nil without %s", kvmDevice)
	}
}

// TestStallMarker: after a guest hung under KVM, Accel picks TCG until
// the host reboots, unless CORUN_QEMU_ACCEL says kvm.
func TestStallMarker(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv(AccelEnv, "")
	if bootID() == "" {
		t.Skip("no /proc/sys/kernel/random/boot_id")
	}
	before, _ := Accel()
	markStalled()
	if kvm, why := Accel(); kvm || (before && !strings.Contains(why, "hung")) {
		t.Errorf("after a stall: Accel() = %v, %q; want TCG, saying why", kvm, why)
	}
	os.WriteFile(stallMarker(), []byte("another-boot\n"), 0o644)
	if kvm, _ := Accel(); kvm != before {
		t.Errorf("a marker from another boot: Accel() = %v, want %v as without one", kvm, before)
	}
	t.Setenv(AccelEnv, "kvm")
	markStalled()
	if kvm, _ := Accel(); !kvm {
		t.Error(AccelEnv + "=kvm did not override the marker")
	}
}
