package qemu

import (
	"os"
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
