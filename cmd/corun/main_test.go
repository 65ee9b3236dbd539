//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/colinux-ng/colinux/driver/confine"
	"github.com/colinux-ng/colinux/driver/instance"
	"github.com/colinux-ng/colinux/driver/uml/umltest"
	"github.com/colinux-ng/colinux/internal/testutil"
)

// corun is the binary under test, built once by TestMain.
var corun string

func TestMain(m *testing.M) {
	if os.Getenv(noConfinementEnv) != "" {
		err := withoutConfinement(os.Args[1:])
		fmt.Fprintln(os.Stderr, "without confinement:", err)
		os.Exit(exitFailure + 1)
	}
	dir, err := os.MkdirTemp("", "corun-test")
	if err != nil {
		panic(err)
	}
	corun = filepath.Join(dir, "corun")
	build := exec.Command("go", "build", "-o", corun, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic(err)
	}
	// Go builds in tests (x11test.Client) keep the user's build cache.
	if gocache, err := exec.Command("go", "env", "GOCACHE").Output(); err == nil {
		os.Setenv("GOCACHE", strings.TrimSpace(string(gocache)))
	}
	// Instances and the runtime cache stay inside the test's directory;
	// a short path keeps UML's socket names within the unix limit.
	os.Setenv("XDG_RUNTIME_DIR", filepath.Join(dir, "run"))
	os.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run runs corun and returns its stdout, stderr and exit status.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runIn(t, "", args...)
}

// runIn runs corun in directory dir.
func runIn(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(corun, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

func kernelArg(t *testing.T) string { return "kernel=" + umltest.InstalledKernel(t).Path }

func TestRunCommand(t *testing.T) {
	t.Parallel()
	img := umltest.Image(t, t.TempDir(), nil)
	out, errOut, code := run(t, "run", img, kernelArg(t), "--", "sh", "-c", "echo out; echo err >&2; exit 3")
	if code != 3 || out != "out\nerr\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// run --json reports which kernel ran and how: the installed kernel, in
// the mode its release supports (ptrace before Linux 6.16), and ptrace
// when the user turns seccomp off. CORUN_TEST_SECCOMP_KERNEL names a
// kernel with seccomp mode that this host runs (on an older host, sid's
// linux.uml with its interpreter and RUNPATH set to sid's libc6), booted
// confined in that mode too.
func TestRunJSON(t *testing.T) {
	t.Parallel()
	k := umltest.InstalledKernel(t)
	img := umltest.Image(t, t.TempDir(), nil)
	type runCase struct {
		kernel, version string
		extra           []string
		mode            string
	}
	cases := []runCase{
		{k.Path, k.Version, nil, umltest.Mode(k.Version)},
		{k.Path, k.Version, []string{"seccomp=off"}, "ptrace"},
	}
	if p := os.Getenv("CORUN_TEST_SECCOMP_KERNEL"); p != "" {
		out, err := exec.Command(p, "--version").Output()
		if err != nil {
			t.Fatalf("CORUN_TEST_SECCOMP_KERNEL: %s --version: %v", p, err)
		}
		v := strings.TrimSpace(string(out))
		cases = append(cases, runCase{p, v, nil, "seccomp"})
	}
	for _, c := range cases {
		k := umltest.Kernel{Path: c.kernel, Version: c.version}
		args := append([]string{"run", "--json", "--snapshot", img, "kernel=" + c.kernel}, c.extra...)
		_, errOut, code := run(t, append(args, "--", "sh", "-c", "exit 4")...)
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		var r runReport
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil || code != 4 {
			t.Fatalf("run --json %v: exit %d, %v: %q", c.extra, code, err, errOut)
		}
		if r.Monitor != "uml" || r.Kernel != k.Version || r.KernelPath != k.Path || r.KernelMode != c.mode || r.ExitCode == nil || *r.ExitCode != 4 || r.Name == "" {
			t.Errorf("run --json %v: %+v; want uml, kernel %s, mode %s, exit code 4", c.extra, r, k.Version, c.mode)
		}
	}
}

// A guest booted to its init is stopped within 10 s, cleanly, and while it
// runs a second instance on the same image is refused.
func TestStopAndLock(t *testing.T) {
	t.Parallel()
	img := umltest.Image(t, t.TempDir(), nil)
	out, errOut, code := run(t, "run", "--detach", "--json", "--name", "lifecycle", img, kernelArg(t))
	var rec instance.Record
	if err := json.Unmarshal([]byte(out), &rec); code != 0 || err != nil || rec.Name != "lifecycle" {
		t.Fatalf("run --detach --json: exit %d, %v, %q %q", code, err, out, errOut)
	}
	// The confinement in force is what this host offers, and run and ls
	// say so.
	want := confine.Probe()
	if rec.Confinement == nil || *rec.Confinement != want {
		t.Errorf("run --json: confinement %+v, want %+v", rec.Confinement, want)
	}
	// And so are the kernel and its mode (ptrace before Linux 6.16).
	k := umltest.InstalledKernel(t)
	mode := umltest.Mode(k.Version)
	if rec.Kernel != k.Version || rec.KernelMode != mode {
		t.Errorf("run --json: kernel %q mode %q, want %s (%s)", rec.Kernel, rec.KernelMode, k.Version, mode)
	}
	out, _, _ = run(t, "ls")
	if !strings.Contains(out, "lifecycle") || !strings.Contains(out, img) || !strings.Contains(out, want.Short()) ||
		!strings.Contains(out, k.Version+" ("+mode+")") {
		t.Errorf("ls does not show the instance, its kernel and mode, and its confinement:\n%s", out)
	}
	if out, _, _ = run(t, "ls", "--json"); !strings.Contains(out, `"confinement":{"landlock":`) || !strings.Contains(out, `"kernel_mode":"`+mode+`"`) {
		t.Errorf("ls --json lacks the confinement or the kernel mode: %s", out)
	}
	_, errOut, code = run(t, "run", img, kernelArg(t), "--", "true")
	if code == 0 || !strings.Contains(errOut, `in use by instance "lifecycle"`) {
		t.Errorf("second instance: exit %d, %q", code, errOut)
	}
	start := time.Now()
	_, errOut, code = run(t, "stop", "lifecycle")
	if code != 0 {
		t.Fatalf("stop: exit %d: %s", code, errOut)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stop took %v", d)
	}
	if out, _, _ := run(t, "ls"); strings.Contains(out, "lifecycle") {
		t.Errorf("stopped instance still listed:\n%s", out)
	}
	testutil.Run(t, "e2fsck", "-fn", img)
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	img := umltest.Image(t, dir, nil)
	notFS := filepath.Join(dir, "zeros.img")
	os.WriteFile(notFS, make([]byte, 1<<20), 0o644)
	xz := filepath.Join(dir, "root.img.xz")
	os.WriteFile(xz, []byte("\xfd7zXZ\x00\x00\x04"), 0o644)
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte("cobd0=\"x.img\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{filepath.Join(dir, "missing.img")}, "no such file"},
		{[]string{notFS}, "holds no filesystem"},
		{[]string{xz}, "xz-compressed"},
		{[]string{img, "cobd0=" + img}, "cobd0 is given twice"},
		{[]string{"@" + bad}, "bad.conf:1"},
		{[]string{img, "kernel=/bin/false"}, "guest kernel did not start"},
	} {
		args := append(append([]string{"run"}, tc.args...), "--", "true")
		if !strings.HasPrefix(tc.args[len(tc.args)-1], "kernel=") {
			args = append(append([]string{"run"}, tc.args...), kernelArg(t), "--", "true")
		}
		_, errOut, code := run(t, args...)
		if code != exitFailure || !strings.Contains(errOut, tc.want) {
			t.Errorf("corun %q: exit %d, stderr %q; want %q", args, code, errOut, tc.want)
		}
	}
}
