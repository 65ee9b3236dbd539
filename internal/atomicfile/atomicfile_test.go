package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCommitPublishesWholeFile(t *testing.T) {
	for name, commit := range map[string]func(*File) error{"Commit": (*File).Commit, "CommitVolatile": (*File).CommitVolatile} {
		t.Run(name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "out.img")
			f, err := Create(dest, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Abort()
			if _, err := f.WriteString("payload"); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(dest); !os.IsNotExist(err) {
				t.Fatalf("destination visible before Commit: %v", err)
			}
			if err := commit(f); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(dest)
			if err != nil || string(got) != "payload" {
				t.Fatalf("got %q, %v", got, err)
			}
			assertOnlyFile(t, filepath.Dir(dest), "out.img")
			if err := commit(f); err == nil {
				t.Error("a second commit succeeded")
			}
		})
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "out.img")
	f, err := Create(dest, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("partial")
	f.Abort()
	assertOnlyFile(t, dir)
}

func assertOnlyFile(t *testing.T, dir string, want ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != len(want) || (len(want) == 1 && names[0] != want[0]) {
		t.Fatalf("directory holds %v, want %v", names, want)
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "key.asc")
	for _, data := range []string{"first", "second"} {
		if err := WriteFile(dest, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(dest)
		fi, _ := os.Stat(dest)
		if err != nil || string(got) != data || fi.Mode().Perm() != 0o600 {
			t.Fatalf("got %q %v %v", got, fi.Mode(), err)
		}
	}
	assertOnlyFile(t, dir, "key.asc")
	if err := WriteFile(filepath.Join(dir, "missing", "x"), nil, 0o644); err == nil {
		t.Error("wrote into a missing directory")
	}
}
