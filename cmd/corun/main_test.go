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

	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/instance"
	"github.com/colinux-ng/colinux/driver/qemu"
	"github.com/colinux-ng/colinux/driver/uml/umltest"
)

// corun is the binary under test, built once by TestMain.
var corun string

// userCache is the user's cache directory, before TestMain gives the
// tests their own.
var userCache string

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
	if userCache, err = os.UserCacheDir(); err != nil {
		panic(err)
	}
	if err := shareRuntime(filepath.Join(dir, "cache"), userCache); err != nil {
		fmt.Fprintf(os.Stderr, "QEMU's runtime is fetched for this run alone: %v\n", err)
	}
	os.Setenv("XDG_RUNTIME_DIR", filepath.Join(dir, "run"))
	os.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	code := m.Run()
	stopLeftovers()
	os.RemoveAll(dir)
	os.Exit(code)
}

// stopLeftovers halts the guests a failed test left running in the
// background, so that they do not outlive the run with their files gone.
func stopLeftovers() {
	out, err := exec.Command(corun, "ls", "--json").Output()
	var recs []instance.Record
	if err != nil || json.Unmarshal(out, &recs) != nil {
		return
	}
	for _, r := range recs {
		if r.State == instance.Running {
			fmt.Fprintf(os.Stderr, "stopping %s, left running by a test\n", r.Name)
			exec.Command(corun, "stop", "--force", "--timeout", "2s", r.Name).Run()
		}
	}
}

// run runs corun and returns its stdout, stderr and exit status.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runIn(t, "", args...)
}

// runIn runs corun in directory dir.
func runIn(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	return runEnv(t, dir, nil, args...)
}

// runEnv runs corun in dir with env added to the test's environment.
func runEnv(t *testing.T, dir string, env []string, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(corun, args...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

func kernelArg(t *testing.T) string { return "kernel=" + umltest.BootKernel(t).Path }

// run --json reports which kernel ran and how: the installed kernel, in
// the mode its release supports (ptrace before Linux 6.16), and ptrace
// when the user turns seccomp off. CORUN_TEST_SECCOMP_KERNEL names a
// kernel with seccomp mode that this host runs (on an older host, sid's
// linux.uml with its interpreter and RUNPATH set to sid's libc6), booted
// confined in that mode too.
func TestRunJSON(t *testing.T) {
	t.Parallel()
	k := umltest.BootKernel(t)
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
		{[]string{img, "cpus=2"}, "cpus=2: User-mode Linux runs one CPU"},
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

// TestChooseMonitor: monitor=auto is QEMU where KVM works, else UML;
// qemu and uml stay as asked.
func TestChooseMonitor(t *testing.T) {
	for _, tc := range []struct{ accel, asked, want string }{
		{"kvm", "auto", "qemu"}, {"tcg", "auto", "uml"},
		{"tcg", "qemu", "qemu"}, {"kvm", "uml", "uml"},
	} {
		t.Setenv(qemu.AccelEnv, tc.accel)
		cfg := &config.Config{Monitor: tc.asked}
		if chooseMonitor(cfg); cfg.Monitor != tc.want {
			t.Errorf("%s=%s, monitor=%s: chose %s, want %s", qemu.AccelEnv, tc.accel, tc.asked, cfg.Monitor, tc.want)
		}
	}
}
