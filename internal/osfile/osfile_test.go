package osfile

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOpenLetsRenameAndRemove: a file open for reading can be renamed and
// removed by name, and the open file still reads its bytes.
func TestOpenLetsRenameAndRemove(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.part")
	if err := os.WriteFile(p, []byte("frame"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	q := filepath.Join(dir, "a")
	if err := os.Rename(p, q); err != nil {
		t.Fatalf("rename of an open file: %v", err)
	}
	if err := os.Remove(q); err != nil {
		t.Fatalf("remove of an open file: %v", err)
	}
	buf := make([]byte, 5)
	if _, err := f.ReadAt(buf, 0); err != nil || string(buf) != "frame" {
		t.Fatalf("read after rename and remove: %q, %v", buf, err)
	}
	if _, err := Open(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Fatalf("Open of a missing file: %v, want not-exist", err)
	}
}

// TestCreateScratchLeavesNothing: the scratch file holds data while open
// and leaves no name in its directory, open or closed.
func TestCreateScratchLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	f, err := CreateScratch(dir, "scratch-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("data"), 1<<20); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := f.ReadAt(buf, 1<<20); err != nil || string(buf) != "data" {
		t.Fatalf("read back: %q, %v", buf, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("%s holds %v after close", dir, ents)
	}
}
