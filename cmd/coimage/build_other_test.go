//go:build !linux

package main

import (
	"strings"
	"testing"
)

// TestBuildSaysLinuxOnly: off Linux, build explains itself instead of
// failing halfway or being an unknown command.
func TestBuildSaysLinuxOnly(t *testing.T) {
	_, stderr, code := coimage(t, "build", "--output", t.TempDir(), "recipes/debian.yaml")
	if code == 0 || !strings.Contains(stderr, "build runs on Linux only") {
		t.Fatalf("exit %d, stderr %q; want a refusal naming Linux", code, stderr)
	}
}
