package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// coimageBin is the coimage binary built once for the tests, so they drive
// the command exactly as a user does.
var coimageBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "coimage-test-")
	if err != nil {
		panic(err)
	}
	coimageBin = filepath.Join(dir, "coimage")
	if runtime.GOOS == "windows" {
		coimageBin += ".exe"
	}
	if out, err := exec.Command("go", "build", "-o", coimageBin, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// coimage runs the binary and returns its stdout, stderr and exit code.
func coimage(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return coimageEnv(t, nil, args...)
}

// coimageEnv is coimage with extra environment.
func coimageEnv(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(coimageBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run coimage: %v", err)
	}
	return o.String(), e.String(), code
}

// assertNoTemp fails when dir holds a temporary output file.
func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left in %s", e.Name(), dir)
		}
	}
}
