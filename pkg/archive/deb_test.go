package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

const helloControl = "Package: hello\nVersion: 1.0-1\nArchitecture: amd64\nDescription: greeter\n says hello\n"

func helloData() []tfile {
	return []tfile{
		{name: "./", typ: tar.TypeDir},
		{name: "./usr/", typ: tar.TypeDir},
		{name: "./usr/bin/", typ: tar.TypeDir},
		{name: "./usr/bin/hello", body: "#!/bin/sh\necho hello\n", mode: 0o4755, uid: 1000, gid: 1000},
		{name: "./usr/bin/hi", typ: tar.TypeLink, link: "./usr/bin/hello"},
		{name: "./usr/bin/hey", typ: tar.TypeSymlink, link: "hello"},
		{name: "./usr/share/doc/hello/copyright", body: "free\n"}, // parents not listed
		{name: "./run/", typ: tar.TypeDir, mode: 0o700},
		{name: "./run/fifo", typ: tar.TypeFifo, mode: 0o600},
		{name: "./dev/", typ: tar.TypeDir},
		{name: "./dev/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3},
	}
}

func openTestDeb(t *testing.T, data []byte) *Deb {
	t.Helper()
	d, err := NewDeb(bytes.NewReader(data), int64(len(data)), "test.deb")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestControl(t *testing.T) {
	for _, comp := range []string{"gz", "xz", "zst"} {
		d := openTestDeb(t, buildDeb(t, helloControl, map[string]string{"postinst": "#!/bin/sh\nexit 0\n"}, helloData(), comp))
		c, err := d.Control()
		if err != nil {
			t.Fatalf("%s: %v", comp, err)
		}
		if c.Fields.Get("package") != "hello" || c.Fields.Get("Description") != "greeter\nsays hello" {
			t.Errorf("%s: fields %q", comp, c.Fields)
		}
		if string(c.Raw) != helloControl || string(c.Files["postinst"]) != "#!/bin/sh\nexit 0\n" {
			t.Errorf("%s: raw %q files %q", comp, c.Raw, c.Files)
		}
	}
}

func TestExtractData(t *testing.T) {
	for _, opt := range []ExtractOptions{{}, {Unprivileged: true}, {NoDevices: true}} {
		for _, comp := range []string{"gz", "xz", "zst"} {
			dest := t.TempDir()
			d := openTestDeb(t, buildDeb(t, helloControl, nil, helloData(), comp))
			entries, err := d.ExtractData(context.Background(), dest, opt)
			if err != nil {
				t.Fatalf("%s: %v", comp, err)
			}
			var paths []string
			for _, e := range entries {
				paths = append(paths, e.Path)
			}
			want := []string{"/.", "/usr", "/usr/bin", "/usr/bin/hello", "/usr/bin/hi", "/usr/bin/hey",
				"/usr/share/doc/hello/copyright", "/run", "/run/fifo", "/dev", "/dev/null"}
			if len(paths) != len(want) {
				t.Fatalf("%s: entries %q, want %q", comp, paths, want)
			}
			for i := range want {
				if paths[i] != want[i] {
					t.Errorf("%s: entry %d = %q, want %q", comp, i, paths[i], want[i])
				}
			}
			priv := os.Geteuid() == 0 && !opt.Unprivileged
			checkHelloTree(t, dest, priv, priv && !opt.NoDevices)
		}
	}
}

// checkHelloTree checks the tree helloData unpacked into; priv: with
// owners, devices: with device nodes.
func checkHelloTree(t *testing.T, dest string, priv, devices bool) {
	t.Helper()
	hello := filepath.Join(dest, "usr/bin/hello")
	fi, err := os.Lstat(hello)
	if err != nil {
		t.Fatal(err)
	}
	if body, _ := os.ReadFile(hello); string(body) != "#!/bin/sh\necho hello\n" {
		t.Errorf("hello body %q", body)
	}
	wantMode := os.FileMode(0o755) | os.ModeSetuid
	if fi.Mode() != wantMode {
		t.Errorf("hello mode %v, want %v", fi.Mode(), wantMode)
	}
	if !fi.ModTime().Equal(testTime) {
		t.Errorf("hello mtime %v", fi.ModTime())
	}
	st := fi.Sys().(*syscall.Stat_t)
	if priv && (st.Uid != 1000 || st.Gid != 1000) {
		t.Errorf("hello owner %d:%d, want 1000:1000", st.Uid, st.Gid)
	}
	if hi, err := os.Lstat(filepath.Join(dest, "usr/bin/hi")); err != nil || !os.SameFile(fi, hi) {
		t.Errorf("hardlink hi: %v", err)
	}
	if l, err := os.Readlink(filepath.Join(dest, "usr/bin/hey")); err != nil || l != "hello" {
		t.Errorf("symlink hey = %q, %v", l, err)
	}
	if sl, err := os.Lstat(filepath.Join(dest, "usr/bin/hey")); err != nil || !sl.ModTime().Equal(testTime) {
		t.Errorf("symlink mtime: %v", err)
	}
	if run, err := os.Stat(filepath.Join(dest, "run")); err != nil || run.Mode().Perm() != 0o700 || !run.ModTime().Equal(testTime) {
		t.Errorf("run dir: %v %v", run.Mode(), err)
	}
	if fifo, err := os.Lstat(filepath.Join(dest, "run/fifo")); err != nil || fifo.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("fifo: %v", err)
	}
	null, err := os.Lstat(filepath.Join(dest, "dev/null"))
	if devices {
		if err != nil || null.Mode()&os.ModeCharDevice == 0 || null.Sys().(*syscall.Stat_t).Rdev != 1<<8|3 {
			t.Errorf("device node: %v", err)
		}
	} else if err == nil {
		t.Errorf("device node created without privilege or with NoDevices")
	}
}

func TestExtractUnsafe(t *testing.T) {
	tests := map[string][]tfile{
		"dotdot":            {{name: "./../evil", body: "x"}},
		"nested dotdot":     {{name: "./a/../../evil", body: "x"}},
		"absolute":          {{name: "/evil", body: "x"}},
		"hardlink out":      {{name: "./h", typ: tar.TypeLink, link: "../outside/secret"}},
		"relative symlink":  {{name: "./l", typ: tar.TypeSymlink, link: "../outside"}, {name: "./l/evil", body: "x"}},
		"absolute symlink":  {{name: "./l", typ: tar.TypeSymlink, link: "/"}, {name: "./l/evil", body: "x"}},
		"symlink as parent": {{name: "./l", typ: tar.TypeSymlink, link: "../outside"}, {name: "./l/sub/evil", body: "x"}},
	}
	for name, files := range tests {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			dest, outside := filepath.Join(base, "dest"), filepath.Join(base, "outside")
			for _, dir := range []string{dest, outside} {
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			d := openTestDeb(t, buildDeb(t, helloControl, nil, files, "gz"))
			_, err := d.ExtractData(context.Background(), dest, ExtractOptions{})
			if !errors.Is(err, ErrUnsafePath) {
				t.Fatalf("error = %v, want ErrUnsafePath", err)
			}
			for _, p := range []string{filepath.Join(base, "evil"), filepath.Join(outside, "evil"), filepath.Join(outside, "sub"), "/evil"} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was written", p)
				}
			}
		})
	}
}

// TestExtractMergedUsr: a package shipping /bin/sh into a tree whose /bin
// is a link to usr/bin must keep the link and land the file in /usr/bin.
func TestExtractMergedUsr(t *testing.T) {
	dest := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dest, "usr/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("usr/bin", filepath.Join(dest, "bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dest, "usr/bin/sh"), []byte("old"), 0o755); err != nil {
		t.Fatal(err)
	}
	d := openTestDeb(t, buildDeb(t, helloControl, nil, []tfile{
		{name: "./bin/", typ: tar.TypeDir},
		{name: "./bin/sh", body: "new", mode: 0o755},
	}, "xz"))
	if _, err := d.ExtractData(context.Background(), dest, ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	if l, err := os.Readlink(filepath.Join(dest, "bin")); err != nil || l != "usr/bin" {
		t.Errorf("bin link = %q, %v", l, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "usr/bin/sh")); string(b) != "new" {
		t.Errorf("usr/bin/sh = %q", b)
	}
}

func TestNewDebErrors(t *testing.T) {
	ctl := string(compress(t, "gz", buildTar(t, []tfile{{name: "./control", body: helloControl}})))
	tests := map[string][]byte{
		"not ar":           []byte("hello world, not an archive"),
		"no data":          buildAr([2]string{"debian-binary", "2.0\n"}, [2]string{"control.tar.gz", ctl}),
		"wrong first":      buildAr([2]string{"control.tar.gz", ctl}),
		"format 3":         buildAr([2]string{"debian-binary", "3.0\n"}),
		"unknown member":   buildAr([2]string{"debian-binary", "2.0\n"}, [2]string{"evil", "x"}),
		"truncated member": buildAr([2]string{"debian-binary", "2.0\n"}, [2]string{"control.tar.gz", ctl})[:80],
	}
	for name, data := range tests {
		if _, err := NewDeb(bytes.NewReader(data), int64(len(data)), "x.deb"); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: error = %v, want ErrFormat", name, err)
		}
	}
}
