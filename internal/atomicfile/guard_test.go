//go:build unix

package atomicfile

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func content(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// produce writes data through CreateOutput and commits it.
func produce(dest, data string, g Guard) error {
	f, err := CreateOutput(dest, 0o644, g)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.WriteString(data); err != nil {
		return err
	}
	return f.Commit()
}

func TestGuardExisting(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	write(t, out, "old")
	if err := produce(out, "new", Guard{}); !errors.Is(err, ErrExists) {
		t.Fatalf("got %v, want ErrExists", err)
	}
	if content(t, out) != "old" {
		t.Fatal("refused output still changed the file")
	}
	if err := produce(out, "new", Guard{Force: true}); err != nil {
		t.Fatal(err)
	}
	if content(t, out) != "new" {
		t.Fatal("--force did not replace the file")
	}
	assertOnlyFile(t, dir, "out")
}

func TestGuardSameAsInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	write(t, in, "input")
	hard := filepath.Join(dir, "hard")
	if err := os.Link(in, hard); err != nil {
		t.Fatal(err)
	}
	soft := filepath.Join(dir, "soft")
	if err := os.Symlink("in", soft); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{in, hard, soft, filepath.Join(dir, ".", "in")} {
		if err := produce(out, "clobbered", Guard{Force: true, Inputs: []string{in}}); !errors.Is(err, ErrSameAsInput) {
			t.Errorf("%s: got %v, want ErrSameAsInput", out, err)
		}
	}
	if content(t, in) != "input" {
		t.Fatal("the input changed")
	}
}

func TestGuardNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{fifo, sock, sub, "/dev/null"} {
		if err := produce(out, "x", Guard{Force: true}); !errors.Is(err, ErrNotRegular) {
			t.Errorf("%s: got %v, want ErrNotRegular", out, err)
		}
	}
	if fi, err := os.Stat("/dev/null"); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("/dev/null is no longer a device: %v", err)
	}
}

// TestGuardAppearedMeanwhile: a file created at the destination while the
// output was written is not replaced without --force.
func TestGuardAppearedMeanwhile(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	f, err := CreateOutput(out, 0o644, Guard{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	write(t, out, "someone else's")
	f.WriteString("ours")
	if err := f.Commit(); !errors.Is(err, ErrExists) {
		t.Fatalf("got %v, want ErrExists", err)
	}
	if content(t, out) != "someone else's" {
		t.Fatal("the other file was replaced")
	}
	assertOnlyFile(t, dir, "out")
}

// TestStaleTempRemoved: a temporary file a killed run left is removed by
// the next run on the same output; one a running writer holds is not.
func TestStaleTempRemoved(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	write(t, filepath.Join(dir, ".out.tmp-12345"), "stale")
	write(t, filepath.Join(dir, ".other.tmp-1"), "someone else's output")
	running, err := CreateOutput(out, 0o644, Guard{})
	if err != nil {
		t.Fatal(err)
	}
	defer running.Abort()
	if _, err := os.Stat(filepath.Join(dir, ".out.tmp-12345")); !os.IsNotExist(err) {
		t.Fatalf("stale temporary file still there: %v", err)
	}
	second, err := CreateOutput(filepath.Join(dir, "out"), 0o644, Guard{})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Abort()
	if _, err := os.Stat(running.Name()); err != nil {
		t.Fatalf("a running writer's temporary file was removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".other.tmp-1")); err != nil {
		t.Fatal("another output's temporary file was removed")
	}
}
