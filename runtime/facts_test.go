package runtime

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestFactsRemembered: a kernel's facts are read and run once, then
// remembered while the binary stays the same, and read again when it
// changes.
func TestFactsRemembered(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	kernel := filepath.Join(t.TempDir(), "linux")
	write := func(release string, mtime time.Time) {
		t.Helper()
		// A stand-in kernel: it prints its release, and holds the
		// seccomp= option where umlTraits looks for it.
		if err := os.WriteFile(kernel, []byte("#!/bin/sh\necho "+release+"\nexit 0\n"+string(seccompOption)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(kernel, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	then := time.Now().Add(-time.Hour).Truncate(time.Second)
	write("1.0", then)
	k, err := c.Override(UML, kernel)
	if err != nil || k.Release != "1.0" || k.Mode != Seccomp {
		t.Fatalf("first: %+v %v", k, err)
	}
	write("2.0", then) // same size, time and inode: taken for the same binary
	if k, _ := c.Override(UML, kernel); k.Release != "1.0" {
		t.Errorf("not remembered: release %q", k.Release)
	}
	write("2.0", then.Add(time.Second))
	if k, _ := c.Override(UML, kernel); k.Release != "2.0" || k.Mode != Seccomp {
		t.Errorf("a changed binary kept its old facts: %+v", k)
	}
}
