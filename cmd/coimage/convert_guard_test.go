//go:build unix

// The guards are checked with Unix's non-regular files (a FIFO,
// /dev/null) and signals.

package main

import (
	"bytes"
	"encoding/base64"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/colinux-ng/colinux/internal/testutil"
)

// bareFS writes a small ext4 filesystem image, something convert accepts.
func bareFS(t *testing.T, dir string) string {
	t.Helper()
	fs := filepath.Join(dir, "fs.img")
	testutil.Run(t, "mke2fs", "-q", "-t", "ext4", fs, "8M")
	return fs
}

// TestConvertNeverDestroys: an existing OUT needs --force, OUT that is IN
// (also through links) and a non-regular OUT are refused even with it,
// and nothing is left behind.
func TestConvertNeverDestroys(t *testing.T) {
	dir := t.TempDir()
	in := bareFS(t, dir)
	orig, _ := os.ReadFile(in)
	if err := os.Link(in, filepath.Join(dir, "hard.img")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("fs.img", filepath.Join(dir, "soft.img")); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(dir, "existing.img")
	if err := os.WriteFile(existing, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, out string
		force     bool
		want      string
	}{
		{"self", in, true, "is the input"},
		{"hard-link", filepath.Join(dir, "hard.img"), true, "is the input"},
		{"symlink", filepath.Join(dir, "soft.img"), true, "is the input"},
		{"existing", existing, false, "exists; --force replaces it"},
		{"fifo", fifo, true, "a FIFO, not a regular file"},
		{"directory", dir, true, "a directory, not a regular file"},
		{"dev-null", "/dev/null", true, "a device, not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"convert", in, tc.out}
			if tc.force { // after the arguments, as qemu-img takes flags
				args = append(args, "--force")
			}
			_, stderr, code := coimage(t, args...)
			if code == 0 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want a refusal saying %q", code, stderr, tc.want)
			}
		})
	}
	if now, _ := os.ReadFile(in); !bytes.Equal(now, orig) {
		t.Fatal("the input changed")
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Fatal("an existing output was replaced without --force")
	}
	if fi, err := os.Stat("/dev/null"); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatal("/dev/null is no longer a device")
	}
	if _, stderr, code := coimage(t, "convert", in, existing, "--force"); code != 0 {
		t.Fatalf("--force over an existing file: exit %d: %s", code, stderr)
	}
	assertNoTemp(t, dir)
}

// TestConvertStaleTemp: a temporary file a killed run left is removed by
// the next run on the same OUT.
func TestConvertStaleTemp(t *testing.T) {
	dir := t.TempDir()
	in := bareFS(t, dir)
	out := filepath.Join(dir, "out.img")
	stale := filepath.Join(dir, ".out.img.tmp-4242")
	if err := os.WriteFile(stale, []byte("half an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := coimage(t, "convert", in, out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	assertNoTemp(t, dir)
}

// TestConvertSignals: SIGINT and SIGTERM during a long xz decompression
// stop coimage within a second, and the temporary output goes with it.
func TestConvertSignals(t *testing.T) {
	testutil.RequireTool(t, "xz")
	dir := t.TempDir()
	raw := filepath.Join(dir, "big.raw")
	// Base64 text: the decoder works through literals and short matches,
	// which keeps the pure-Go decoder busy for seconds, while xz -0 packs
	// it quickly.
	var text bytes.Buffer
	rng := rand.New(rand.NewSource(7))
	chunk := make([]byte, 3<<20)
	for range 6 { // 24 MiB of text
		rng.Read(chunk)
		text.WriteString(base64.StdEncoding.EncodeToString(chunk))
	}
	if err := os.WriteFile(raw, text.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "xz", "-0", "-T2", raw)
	checkSignals(t, func(out string) []string { return []string{"convert", raw + ".xz", out} })
}

// TestExportSignals: the same during a vmdk export (its grains are
// always compressed) of text, which takes seconds: words from a small
// vocabulary give deflate a short match at nearly every byte (256 MiB took
// ~2 s on two cores; random bytes, which it stores, took 0.65 s, too close
// to the signal's half second).
func TestExportSignals(t *testing.T) {
	raw := filepath.Join(t.TempDir(), "words.img")
	rng := rand.New(rand.NewSource(8))
	words := make([][]byte, 4096)
	for i := range words {
		words[i] = make([]byte, 2+rng.Intn(8))
		for j := range words[i] {
			words[i][j] = 'a' + byte(rng.Intn(26))
		}
	}
	text := make([]byte, 0, 256<<20+16)
	for len(text) < 256<<20 {
		text = append(append(text, words[rng.Intn(len(words))]...), ' ')
	}
	if err := os.WriteFile(raw, text[:256<<20], 0o644); err != nil {
		t.Fatal(err)
	}
	checkSignals(t, func(out string) []string { return []string{"export", "--format", "vmdk", raw, out} })
}

// checkSignals runs coimage with the arguments args gives for an output
// path, sends SIGINT (then, in a second run, SIGTERM) half a second in,
// and checks that it stops within a second, says so, and leaves nothing.
func checkSignals(t *testing.T, args func(out string) []string) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			outDir := t.TempDir()
			cmd := exec.Command(coimageBin, args(filepath.Join(outDir, "out.img"))...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond)
			sent := time.Now()
			cmd.Process.Signal(sig)
			err := cmd.Wait()
			if took := time.Since(sent); took > time.Second {
				t.Errorf("coimage took %v to stop after %v", took, sig)
			}
			if err == nil {
				t.Fatalf("coimage finished before the signal; make the input bigger")
			}
			if !strings.Contains(stderr.String(), "canceled") {
				t.Errorf("stderr %q does not say the work was cancelled", stderr.String())
			}
			if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
				t.Errorf("%d entries left in the output directory", len(ents))
			}
		})
	}
}
