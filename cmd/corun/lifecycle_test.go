//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/colinux-ng/colinux/driver"
	"github.com/colinux-ng/colinux/driver/confine"
	"github.com/colinux-ng/colinux/driver/instance"
	"github.com/colinux-ng/colinux/driver/uml/umltest"
	"github.com/colinux-ng/colinux/internal/testutil"
)

// ls returns corun ls --json.
func ls(t *testing.T) []instance.Record {
	t.Helper()
	out, errOut, code := run(t, "ls", "--json")
	if code != 0 {
		t.Fatalf("ls: exit %d: %s", code, errOut)
	}
	var recs []instance.Record
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatalf("ls --json: %v: %q", err, out)
	}
	return recs
}

// lsGet returns the instance name as ls shows it.
func lsGet(t *testing.T, name string) (instance.Record, bool) {
	for _, r := range ls(t) {
		if r.Name == name {
			return r, true
		}
	}
	return instance.Record{}, false
}

// waitFor polls cond every 100 ms for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); ; time.Sleep(100 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

// instanceProcs returns the processes of instance name: its PID-1 helper,
// the monitor and every helper the monitor forked, which all carry the
// instance directory in their command line (UML's uml_dir=, QEMU's QMP
// socket).
func instanceProcs(name string) []int {
	marker := filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "corun", name) + "/"
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(marker)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// childOf returns a child process of pid, forked by any of its threads.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	child := firstChild(pid)
	if child == 0 {
		t.Fatalf("pid %d has no child", pid)
	}
	return child
}

// firstChild is a child process of pid, or 0.
func firstChild(pid int) int {
	files, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "children"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if c := strings.Fields(string(b)); len(c) > 0 {
			child, _ := strconv.Atoi(c[0])
			return child
		}
	}
	return 0
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// imageLocked reports whether some process holds a lock on the image.
func imageLocked(t *testing.T, img string) bool {
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	return errors.Is(err, unix.EWOULDBLOCK)
}

// TestKill9: on each monitor, kill -9 of each process of an instance in
// turn — the corun running a command, the background corun, the
// monitor's PID-1 helper, the monitor (UML's kernel, QEMU) — leaves no
// process and no lock; ls says dead, never running; stop or rm removes
// the leftovers and says so; the image is e2fsck-clean.
func TestKill9(t *testing.T) {
	t.Parallel()
	testutil.RequireTool(t, "e2fsck")
	forEachMonitor(t, func(t *testing.T, m monitor) {
		for _, tc := range []struct {
			victim, cleanup string
		}{
			{"corun", "stop"}, {"supervisor", "rm"}, {"init", "stop"}, {"monitor", "rm"},
		} {
			t.Run(tc.victim, func(t *testing.T) {
				t.Parallel()
				kill9(t, m, tc.victim, tc.cleanup)
			})
		}
	})
}

func kill9(t *testing.T, m monitor, victim, cleanup string) {
	img := umltest.Image(t, t.TempDir(), nil)
	name := "kill-" + m.name + "-" + victim
	var owner *exec.Cmd
	if victim == "corun" {
		owner = exec.Command(corun, m.runArgs(img, []string{"--name", name}, "--", "sleep", "100000")...)
		owner.Env = append(os.Environ(), m.env...)
		if err := owner.Start(); err != nil {
			t.Fatal(err)
		}
		defer owner.Process.Kill()
	} else {
		out, errOut, code := m.run(t, m.runArgs(img, []string{"--detach", "--json", "--name", name})...)
		var rec instance.Record
		if err := json.Unmarshal([]byte(out), &rec); code != 0 || err != nil || rec.Name != name || rec.Monitor != m.kind {
			t.Fatalf("run --detach --json: exit %d, %v: %q %s", code, err, out, errOut)
		}
	}
	var rec instance.Record
	if !waitFor(time.Minute, func() bool {
		r, ok := lsGet(t, name)
		rec = r
		return ok && r.State == "running" && len(instanceProcs(name)) >= m.procs
	}) {
		t.Fatalf("%s not running with its helpers: %+v, processes %v", name, rec, instanceProcs(name))
	}
	t.Logf("before: owner %d, processes %v", rec.Owner, instanceProcs(name))
	pid := map[string]int{"corun": rec.Owner, "supervisor": rec.Owner, "init": rec.PID}[victim]
	if victim == "monitor" {
		pid = childOf(t, rec.PID)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if owner != nil {
		owner.Wait()
	}
	// A process on its way out has lost its command line but may still
	// hold its files for a moment.
	if !waitFor(10*time.Second, func() bool {
		return len(instanceProcs(name)) == 0 && !alive(rec.Owner) && !imageLocked(t, img)
	}) {
		t.Fatalf("left behind: processes %v, owner %d alive %v, image locked %v",
			instanceProcs(name), rec.Owner, alive(rec.Owner), imageLocked(t, img))
	}
	if r, ok := lsGet(t, name); !ok || r.State != "dead" {
		t.Errorf("ls shows %+v (listed %v), want dead", r, ok)
	}
	out, _, _ := run(t, "ls")
	if !regexp.MustCompile(`(?m)^` + name + ` .* dead: `).MatchString(out) {
		t.Errorf("ls:\n%s", out)
	}
	_, errOut, code := run(t, cleanup, name)
	if code != 0 || !strings.Contains(errOut, map[string]string{"stop": "was not running", "rm": "removed " + name}[cleanup]) {
		t.Errorf("%s of a dead instance: exit %d: %q", cleanup, code, errOut)
	}
	if _, ok := lsGet(t, name); ok {
		t.Errorf("%s did not remove the dead instance", cleanup)
	}
	// Nor its directories elsewhere (UML's memory files on /dev/shm).
	for _, base := range []string{"/dev/shm", os.TempDir()} {
		if left, _ := filepath.Glob(filepath.Join(base, instance.ScratchPrefix+name+"-*")); len(left) > 0 {
			t.Errorf("%s left the instance's scratch directories %v", cleanup, left)
		}
	}
	testutil.Run(t, "e2fsck", "-fn", img)
}

// TestRmRunning: rm refuses a live instance; stop of an unknown one fails.
func TestRmRunning(t *testing.T) {
	t.Parallel()
	img := umltest.Image(t, t.TempDir(), nil)
	if out, errOut, code := run(t, "run", "--detach", "--name", "rm-live", img, kernelArg(t)); code != 0 {
		t.Fatalf("run --detach: exit %d: %s %s", code, out, errOut)
	}
	_, errOut, code := run(t, "rm", "rm-live")
	if code == 0 || !strings.Contains(errOut, "rm-live is running") {
		t.Errorf("rm of a live instance: exit %d: %q", code, errOut)
	}
	if _, errOut, code := run(t, "stop", "rm-live"); code != 0 {
		t.Fatalf("stop: exit %d: %s", code, errOut)
	}
	_, errOut, code = run(t, "stop", "rm-live")
	if code == 0 || !strings.Contains(errOut, "no such instance") {
		t.Errorf("stop of a stopped instance: exit %d: %q", code, errOut)
	}
	for _, name := range []string{"h", "help"} { // names, not requests for help
		if _, errOut, code := run(t, "stop", name); code == 0 || !strings.Contains(errOut, "no such instance") {
			t.Errorf("stop %s: exit %d: %q", name, code, errOut)
		}
	}
}

// terminal is one for corun: a pty whose output is collected.
type terminal struct {
	ptmx *os.File
	mu   sync.Mutex
	out  bytes.Buffer
}

// startOnPTY runs corun with args on a new pty as its controlling terminal.
func startOnPTY(t *testing.T, args ...string) (*exec.Cmd, *terminal) {
	t.Helper()
	return startOnPTYIn(t, "", args...)
}

// startOnPTYIn does so in directory dir.
func startOnPTYIn(t *testing.T, dir string, args ...string) (*exec.Cmd, *terminal) {
	t.Helper()
	return startOnPTYEnv(t, dir, nil, args...)
}

// startOnPTYEnv does so in dir with env added to the test's environment.
func startOnPTYEnv(t *testing.T, dir string, env []string, args ...string) (*exec.Cmd, *terminal) {
	t.Helper()
	cmd := exec.Command(corun, args...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	ptmx, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ptmx.Close() })
	c := &terminal{ptmx: ptmx}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			c.mu.Lock()
			c.out.Write(buf[:n])
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return cmd, c
}

func (c *terminal) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// expect waits up to d for s on the console.
func (c *terminal) expect(t *testing.T, s string, d time.Duration) {
	t.Helper()
	if !waitFor(d, func() bool { return strings.Contains(c.String(), s) }) {
		t.Fatalf("no %q on the console after %v:\n%s", s, d, c.String())
	}
}

func (c *terminal) typ(t *testing.T, s string) {
	t.Helper()
	if _, err := c.ptmx.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

// waitExit waits for cmd and returns its exit status.
func waitExit(t *testing.T, cmd *exec.Cmd, d time.Duration) int {
	t.Helper()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
		return cmd.ProcessState.ExitCode()
	case <-time.After(d):
		cmd.Process.Kill()
		t.Fatalf("corun %q did not end within %v", cmd.Args[1:], d)
		return -1
	}
}

// shellImage boots to a shell on the console.
func shellImage(t *testing.T, dir string) string {
	return umltest.Image(t, dir, map[string]string{
		"etc/inittab": "::sysinit:/bin/mount -t proc proc /proc\n::respawn:-/bin/sh\n" +
			"::ctrlaltdel:/bin/poweroff\n::shutdown:/bin/mount -o remount,ro /\n",
		"etc/os-release": "PRETTY_NAME=\"corun test image\"\n",
	})
}

// TestLifecycle: on each monitor, corun run on a terminal attaches the
// console: a command typed there runs in the guest and its output comes
// back; Ctrl-] detaches and leaves the guest running, which ls shows
// with its monitor, kernel and confinement; a second instance on the
// same image is refused; corun attach reattaches, replaying the recent
// output; corun stop, while attached, shuts the guest down within 10 s,
// which ends the attach; the guest is no longer listed and its image
// checks clean.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	e2fsck := testutil.RequireTool(t, "e2fsck")
	forEachMonitor(t, func(t *testing.T, m monitor) {
		img := shellImage(t, t.TempDir())
		name := "life-" + m.name
		cmd, con := startOnPTYEnv(t, "", m.env, m.runArgs(img, []string{"--name", name})...)
		defer run(t, "stop", "--force", name)
		con.expect(t, "# ", 2*time.Minute)
		con.typ(t, "echo $((6*7))-from-the-guest\r")
		con.expect(t, "42-from-the-guest", 30*time.Second)
		con.typ(t, "\x1d")
		if code := waitExit(t, cmd, 10*time.Second); code != 0 {
			t.Fatalf("detach: exit %d:\n%s", code, con.String())
		}
		con.expect(t, "detached from "+name, time.Second)

		// The confinement in force is what this host offers.
		want := confine.Probe()
		r, ok := lsGet(t, name)
		if !ok || r.State != "running" || r.Monitor != m.kind || r.Kernel != m.release || r.KernelMode != m.mode ||
			r.Confinement == nil || *r.Confinement != want {
			t.Errorf("after detaching, ls shows %+v; want running, monitor %s, kernel %s mode %q, confinement %+v",
				r, m.kind, m.release, m.mode, want)
		}
		kernel := m.release
		if m.mode != "" {
			kernel += " (" + m.mode + ")"
		}
		out, _, _ := run(t, "ls")
		if !regexp.MustCompile(`(?m)^` + name + ` +` + m.kind + ` +` + regexp.QuoteMeta(kernel) + ` .*` +
			regexp.QuoteMeta(img) + ` .* ` + regexp.QuoteMeta(want.Short()) + ` +running$`).MatchString(out) {
			t.Errorf("ls does not show %s running with its monitor, kernel, image and confinement:\n%s", name, out)
		}
		if _, errOut, code := m.run(t, m.runArgs(img, nil, "--", "true")...); code == 0 || !strings.Contains(errOut, `in use by instance "`+name+`"`) {
			t.Errorf("second instance: exit %d, %q", code, errOut)
		}

		cmd, con = startOnPTY(t, "attach", name)
		con.expect(t, "42-from-the-guest", 10*time.Second) // the recent output, replayed
		con.typ(t, "echo again-$((1+1))\r")
		con.expect(t, "again-2", 30*time.Second)
		start := time.Now()
		if _, errOut, code := run(t, "stop", name); code != 0 {
			t.Fatalf("stop: exit %d: %s", code, errOut)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("stop took %v", d)
		}
		if code := waitExit(t, cmd, 10*time.Second); code != 0 {
			t.Errorf("attach to a guest that was stopped: exit %d:\n%s", code, con.String())
		}
		if _, ok := lsGet(t, name); ok {
			t.Errorf("a stopped guest is still listed: %+v", ls(t))
		}
		if out, err := exec.Command(e2fsck, "-fn", img).CombinedOutput(); err != nil {
			t.Errorf("e2fsck -fn after stop: %v\n%s", err, out)
		}
	})
}

// TestCrash: on each monitor, a guest kernel panic is reported: corun
// running a command fails with its own status, the crash and the
// console's last lines; a guest in the background ends the attach with
// the crash, and stays listed dead with it until corun rm.
func TestCrash(t *testing.T) {
	t.Parallel()
	const panicNow = "echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger"
	crashed := driver.ErrGuestCrash.Error()
	forEachMonitor(t, func(t *testing.T, m monitor) {
		t.Run("command", func(t *testing.T) {
			t.Parallel()
			img := umltest.Image(t, t.TempDir(), nil)
			_, errOut, code := m.run(t, m.runArgs(img, nil, "--", "sh", "-c", panicNow)...)
			if code != exitFailure || !strings.Contains(errOut, crashed+": the guest kernel panicked") ||
				!strings.Contains(errOut, "Kernel panic - not syncing: sysrq triggered crash") {
				t.Errorf("exit %d: %q; want %d, the panic and the kernel's message saying why", code, errOut, exitFailure)
			}
		})
		t.Run("detached", func(t *testing.T) {
			t.Parallel()
			img := shellImage(t, t.TempDir())
			name := "crash-" + m.name
			if out, errOut, code := m.run(t, m.runArgs(img, []string{"--detach", "--name", name})...); code != 0 {
				t.Fatalf("run --detach: exit %d: %s %s", code, out, errOut)
			}
			defer run(t, "stop", "--force", name)
			cmd, con := startOnPTY(t, "attach", name)
			con.expect(t, "# ", 2*time.Minute)
			con.typ(t, panicNow+"\r")
			if code := waitExit(t, cmd, time.Minute); code != exitFailure {
				t.Errorf("attach to a guest that panics: exit %d:\n%s", code, con.String())
			}
			con.expect(t, name+" ended: "+crashed+": the guest kernel panicked", 5*time.Second)
			if r, ok := lsGet(t, name); !ok || r.State != "dead" || r.Reason != crashed+": the guest kernel panicked" {
				t.Errorf("ls shows %+v (listed %v), want dead: %s: the guest kernel panicked", r, ok, crashed)
			}
			if _, errOut, code := run(t, "rm", name); code != 0 {
				t.Errorf("rm: exit %d: %s", code, errOut)
			}
		})
	})
}

// TestKill9Helper: kill -9 of one of the kernel's helper processes may
// leave the guest running or end it; ls tells which, and stop --force
// leaves no process, no lock, no instance and a clean image either way.
func TestKill9Helper(t *testing.T) {
	t.Parallel()
	img := umltest.Image(t, t.TempDir(), nil)
	const name = "kill-helper"
	if out, errOut, code := run(t, "run", "--detach", "--name", name, img, kernelArg(t)); code != 0 {
		t.Fatalf("run --detach: exit %d: %s %s", code, out, errOut)
	}
	var rec instance.Record
	// the PID-1 helper, the kernel, and a child of the kernel's
	if !waitFor(30*time.Second, func() bool {
		rec, _ = lsGet(t, name)
		return rec.PID != 0 && firstChild(firstChild(rec.PID)) != 0
	}) {
		t.Fatalf("no helpers: %v", instanceProcs(name))
	}
	kernel := childOf(t, rec.PID)
	helper := childOf(t, kernel)
	if err := syscall.Kill(helper, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	want := "dead"
	if alive(kernel) {
		want = "running"
	}
	if r, _ := lsGet(t, name); r.State != want {
		t.Errorf("kernel alive %v, ls says %q", alive(kernel), r.State)
	}
	if _, errOut, code := run(t, "stop", "--force", "--timeout", "2s", name); code != 0 {
		t.Fatalf("stop --force: exit %d: %s", code, errOut)
	}
	if !waitFor(10*time.Second, func() bool { return len(instanceProcs(name)) == 0 && !imageLocked(t, img) }) {
		t.Fatalf("left behind: processes %v, image locked %v", instanceProcs(name), imageLocked(t, img))
	}
	if _, ok := lsGet(t, name); ok {
		t.Error("stop --force left the instance listed")
	}
	testutil.Run(t, "e2fsck", "-fn", img)
}
