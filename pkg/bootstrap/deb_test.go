package bootstrap

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/internal/testutil"
	"github.com/colinux-ng/colinux/pkg/archive"
)

// buildDeb makes a small package with dpkg-deb and the given compressor.
func buildDeb(t *testing.T, compress string) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "DEBIAN"), 0o755)
	os.MkdirAll(filepath.Join(src, "usr/bin"), 0o755)
	os.WriteFile(filepath.Join(src, "DEBIAN/control"), []byte("Package: t\nVersion: 1\nArchitecture: all\nMaintainer: x <x@y>\nDescription: t\n"), 0o644)
	os.WriteFile(filepath.Join(src, "usr/bin/hello"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	os.Symlink("hello", filepath.Join(src, "usr/bin/hi"))
	deb := filepath.Join(dir, "t.deb")
	testutil.Run(t, "dpkg-deb", "--root-owner-group", "-Z"+compress, "--build", src, deb)
	return deb
}

// TestOpenDebMatchesArchive: the xz fast path extracts exactly what the
// archive package's own reader does, into a fresh buffer, a small one
// holding garbage, and the buffer an earlier package left behind.
func TestOpenDebMatchesArchive(t *testing.T) {
	garbage := bytes.Repeat([]byte{0xff}, 100)[:10]
	for _, compress := range []string{"xz", "gzip"} {
		deb := buildDeb(t, compress)
		slow, err := archive.OpenDeb(deb)
		if err != nil {
			t.Fatal(err)
		}
		want := extractNames(t, slow)
		var left []byte
		for _, buf := range [][]byte{nil, garbage, nil} {
			if buf == nil {
				buf = left
			}
			fast, got, err := openDeb(context.Background(), deb, buf)
			if err != nil {
				t.Fatalf("%s: %v", compress, err)
			}
			left = got
			if c, err := fast.Control(); err != nil || c.Fields.Get("Package") != "t" {
				t.Errorf("%s: control %v %v", compress, c, err)
			}
			if names := extractNames(t, fast); !reflect.DeepEqual(names, want) || len(names) < 4 {
				t.Errorf("%s: fast path %v, archive %v", compress, names, want)
			}
		}
		if compress == "xz" && cap(left) < 1024 {
			t.Errorf("xz: the fast path left a buffer of %d bytes, not the decompressed package", cap(left))
		}
	}
}

func extractNames(t *testing.T, d *archive.Deb) []string {
	t.Helper()
	defer d.Close()
	dir := t.TempDir()
	entries, err := d.ExtractData(context.Background(), dir, archive.ExtractOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Path)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "usr/bin/hello")); err != nil || string(data) != "#!/bin/sh\necho hi\n" {
		t.Errorf("extracted hello: %q %v", data, err)
	}
	return names
}

func TestArMembersRejectsGarbage(t *testing.T) {
	for _, raw := range []string{"", "!<arch>\nshort", "!<arch>\n" + "debian-binary   0           0     0     100644  99999     `\n"} {
		if _, err := arMembers(strings.NewReader(raw), int64(len(raw))); err == nil {
			t.Errorf("%q accepted", raw)
		}
	}
}
