package driver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/instance"
)

func TestMain(m *testing.M) {
	MaybeInit()
	Register("stubborn", stubborn{})
	os.Exit(m.Run())
}

// stubborn is a backend whose guest ignores every stop request: a shell
// with two children that ignores SIGTERM.
type stubborn struct{}

// marker names the stubborn guest's children in their command line; the
// test's pid in it keeps two test runs on one machine from counting each
// other's children.
var marker = fmt.Sprintf("%d.5", 100000+os.Getpid())

func (stubborn) Prepare(*config.Config) error { return nil }
func (stubborn) Run(ctx context.Context, inst *Instance) (Result, error) {
	proc, err := inst.Start(Process{Path: "/bin/sh", Args: []string{"-c",
		"trap '' TERM; sleep " + marker + " & sleep " + marker + " & wait"}})
	if err != nil {
		return Result{}, err
	}
	return Result{}, proc.Wait()
}
func (stubborn) Stop(ctx context.Context, inst *Instance, force bool) error {
	if force {
		return errors.New("no way to halt")
	}
	return nil
}
func (stubborn) Status(_ context.Context, inst *Instance) error {
	if inst.Name == "mute" {
		return errors.New("no control socket")
	}
	return nil
}

// markedProcs counts the processes running "sleep marker".
func markedProcs() int {
	n := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if bytes.Equal(b, []byte("sleep\x00"+marker+"\x00")) {
			n++
		}
	}
	return n
}

// A guest that ignores graceful and forced stops is killed with every
// process it started, and its instance and locks are gone.
func TestStopSequenceKillsEverything(t *testing.T) {
	img := filepath.Join(t.TempDir(), "disk.img")
	os.WriteFile(img, make([]byte, 4096), 0o644)
	reg := instance.Registry{Dir: t.TempDir()}
	cfg := &config.Config{Name: "stubborn", Monitor: "stubborn", Disks: []config.Disk{{Index: 0, Path: img}}}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, cfg, Options{Registry: reg, StopTimeout: 300 * time.Millisecond, Ready: func(n string) { ready <- n }})
		done <- err
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run ended before the guest was ready: %v", err)
	}
	for end := time.Now().Add(5 * time.Second); markedProcs() < 2 && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	if n := markedProcs(); n != 2 {
		t.Fatalf("%d guest children running, want 2", n)
	}
	if rec, err := reg.Get("stubborn"); err != nil || rec.State != instance.Running || rec.Monitor != "stubborn" {
		t.Errorf("while running: %+v, %v", rec, err)
	}
	start := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the stop sequence")
	}
	t.Logf("stopped in %v", time.Since(start))
	if n := markedProcs(); n != 0 {
		t.Errorf("%d guest children left", n)
	}
	if _, err := reg.Get("stubborn"); !errors.Is(err, instance.ErrNotFound) {
		t.Errorf("instance after the stop: %v", err)
	}
	f, err := instance.LockImage(img, false)
	if err != nil {
		t.Errorf("image still locked: %v", err)
	} else {
		f.Close()
	}
}

func TestLookupAndPrepare(t *testing.T) {
	if _, err := Lookup("nonesuch"); err == nil {
		t.Error("Lookup of an unknown monitor: no error")
	}
	dir := t.TempDir()
	xz := filepath.Join(dir, "root.img.xz")
	os.WriteFile(xz, []byte("\xfd7zXZ\x00\x00\x04\xe6\xd6\xb4\x46"), 0o644)
	err := Prepare(&config.Config{Monitor: "stubborn", Disks: []config.Disk{{Index: 0, Path: xz}}})
	if !errors.Is(err, ErrCompressed) || !errors.Is(err, ErrImage) {
		t.Errorf("compressed image: %v, want ErrCompressed", err)
	}
	err = Prepare(&config.Config{Monitor: "stubborn"})
	if err == nil {
		t.Error("no root image: no error")
	}
}

// A monitor that never answers is reported ready after readyWait, so
// run --detach returns, and stays "starting".
func TestMuteMonitor(t *testing.T) {
	readyWait = 500 * time.Millisecond
	img := filepath.Join(t.TempDir(), "disk.img")
	os.WriteFile(img, make([]byte, 4096), 0o644)
	reg := instance.Registry{Dir: t.TempDir()}
	cfg := &config.Config{Name: "mute", Monitor: "stubborn", Disks: []config.Disk{{Index: 0, Path: img}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, cfg, Options{Registry: reg, StopTimeout: 100 * time.Millisecond, Ready: func(n string) { ready <- n }})
		done <- err
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready after 10 s")
	}
	if rec, err := reg.Get("mute"); err != nil || rec.State != instance.Starting {
		t.Errorf("mute monitor: %+v, %v; want starting", rec, err)
	}
	cancel()
	<-done
}
