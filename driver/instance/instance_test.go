package instance

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// holdInChild hands f to a child process and returns it: the lock then
// lives in another process, as with corun and its monitor.
func holdInChild(t *testing.T, f *os.File) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.ExtraFiles = []*os.File{f}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

func TestLiveAndDead(t *testing.T) {
	reg := Registry{Dir: t.TempDir()}
	c, err := reg.Create("web")
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Save(Record{Name: "web", PID: 42, State: Running}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Create("web"); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "pid 42") {
		t.Errorf("second Create: %v, want ErrExists naming pid 42", err)
	}
	if err := reg.Remove("web"); !errors.Is(err, ErrAlive) {
		t.Errorf("Remove of a live instance: %v, want ErrAlive", err)
	}
	// The owner goes, a child holding the lock stays: still alive.
	child := holdInChild(t, c.Lock())
	c.lock.Close()
	if rec, err := reg.Get("web"); err != nil || rec.State != Running {
		t.Fatalf("lock held by a child: %+v, %v", rec, err)
	}
	// The last holder is killed: dead, whatever the state file says.
	child.Process.Kill()
	child.Wait()
	rec, err := reg.Get("web")
	if err != nil || rec.State != Dead || rec.PID != 42 {
		t.Fatalf("after the last holder died: %+v, %v", rec, err)
	}
	recs, err := reg.List()
	if err != nil || len(recs) != 1 || recs[0].State != Dead {
		t.Errorf("List: %+v, %v", recs, err)
	}
	// A new instance of the name takes over the leftovers.
	os.WriteFile(filepath.Join(reg.Dir, "web", "cobd0.cow"), []byte("x"), 0o600)
	c2, err := reg.Create("web")
	if err != nil {
		t.Fatalf("Create over a dead instance: %v", err)
	}
	if _, err := os.Stat(filepath.Join(c2.Dir, "cobd0.cow")); !os.IsNotExist(err) {
		t.Error("the dead instance's files are still there")
	}
	if rec, err := reg.Get("web"); err != nil || rec.State != Starting {
		t.Errorf("new instance: %+v, %v", rec, err)
	}
	c2.Release(false)
	if _, err := reg.Get("web"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after Release: %v, want ErrNotFound", err)
	}
}

func TestReleaseKeepAndRemove(t *testing.T) {
	reg := Registry{Dir: t.TempDir()}
	c, err := reg.Create("crashed")
	if err != nil {
		t.Fatal(err)
	}
	reg.Save(Record{Name: "crashed", State: Dead, Reason: "guest stopped unexpectedly", Started: time.Now()})
	c.Release(true)
	rec, err := reg.Get("crashed")
	if err != nil || rec.State != Dead || rec.Reason == "" {
		t.Fatalf("kept instance: %+v, %v", rec, err)
	}
	if err := reg.Remove("crashed"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(reg.Dir, "crashed")); !os.IsNotExist(err) {
		t.Error("Remove left the directory")
	}
	if err := reg.Remove("crashed"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove: %v", err)
	}
	for _, bad := range []string{"../x", "", "a/b", strings.Repeat("x", 49)} {
		if _, err := reg.Create(bad); err == nil {
			t.Errorf("Create(%q): no error", bad)
		}
		if _, err := reg.Get(bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q): %v", bad, err)
		}
	}
}

func TestImageLock(t *testing.T) {
	img := filepath.Join(t.TempDir(), "root.img")
	os.WriteFile(img, nil, 0o644)
	rw, err := LockImage(img, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LockImage(img, true); !errors.Is(err, ErrLocked) {
		t.Errorf("reader beside a writer: %v", err)
	}
	rw.Close()
	r1, err := LockImage(img, true)
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	r2, err := LockImage(img, true)
	if err != nil {
		t.Errorf("two readers: %v", err)
	} else {
		r2.Close()
	}
	if _, err := LockImage(img, false); !errors.Is(err, ErrLocked) {
		t.Errorf("writer beside a reader: %v", err)
	}
}

// TestScratchOutlivesAKilledOwner: the directories a dead instance
// recorded outside its own go with it, when its name is reused and when it
// is removed; a listed path that is not a scratch directory stays.
func TestScratchOutlivesAKilledOwner(t *testing.T) {
	reg := Registry{Dir: t.TempDir()}
	outside := t.TempDir()
	mkdir := func(name string) string {
		d := filepath.Join(outside, name)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		return d
	}
	exists := func(d string) bool { _, err := os.Stat(d); return err == nil }
	if err := AddScratch(filepath.Join(reg.Dir, "x"), filepath.Join(outside, "home")); err == nil {
		t.Error("AddScratch took a directory without the scratch prefix")
	}
	for _, end := range []string{"create", "remove"} {
		t.Run(end, func(t *testing.T) {
			c, err := reg.Create("web")
			if err != nil {
				t.Fatal(err)
			}
			scratch, keep := mkdir("corun-web-"+end), mkdir("keep-"+end)
			if err := AddScratch(c.Dir, scratch); err != nil {
				t.Fatal(err)
			}
			// A hand-edited list: not a scratch directory's name.
			f, _ := os.OpenFile(filepath.Join(c.Dir, scratchFile), os.O_WRONLY|os.O_APPEND, 0)
			f.WriteString(keep + "\n")
			f.Close()
			c.lock.Close() // killed: no Release
			if !exists(scratch) {
				t.Fatal("scratch directory gone while the instance is only dead")
			}
			if end == "create" {
				c2, err := reg.Create("web")
				if err != nil {
					t.Fatal(err)
				}
				defer c2.Release(false)
			} else if err := reg.Remove("web"); err != nil {
				t.Fatal(err)
			}
			if exists(scratch) {
				t.Error("the dead instance's scratch directory is left")
			}
			if !exists(keep) {
				t.Error("a directory without the scratch prefix was removed")
			}
		})
	}
}
