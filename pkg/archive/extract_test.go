package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/colinux-ng/colinux/internal/testutil"
)

// TestExtractTarXattrs: PAX xattr records (GNU tar --xattrs, as Gentoo's
// stage3 has) land on the extracted files when running as root.
func TestExtractTarXattrs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("setting trusted.* attributes needs root")
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := "ping"
	h := &tar.Header{Name: "./bin/ping", Typeflag: tar.TypeReg, Mode: 0o4755, Size: int64(len(body)), ModTime: testTime,
		PAXRecords: map[string]string{"SCHILY.xattr.trusted.coimage": "cap", "SCHILY.xattr.user.pax.flags": "em"}}
	if err := tw.WriteHeader(h); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(body))
	tw.Close()
	dest := t.TempDir()
	entries, err := ExtractTar(context.Background(), tar.NewReader(&buf), dest, "stage3.tar", ExtractOptions{})
	if err != nil || len(entries) != 1 || entries[0].Path != "/bin/ping" {
		t.Fatalf("%v %v", entries, err)
	}
	file := filepath.Join(dest, "bin/ping")
	val := make([]byte, 16)
	n, err := unix.Lgetxattr(file, "trusted.coimage", val)
	if err != nil || string(val[:n]) != "cap" {
		t.Errorf("trusted.coimage: %q %v", val[:n], err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("mode: %v %v", fi.Mode(), err)
	}
}

// TestExtractTarRefusesSparse: a GNU tar PAX sparse entry declaring 64 MiB
// in a few kilobytes is refused instead of written out as zeros.
func TestExtractTarRefusesSparse(t *testing.T) {
	testutil.RequireTool(t, "tar")
	src := t.TempDir()
	f, err := os.Create(filepath.Join(src, "huge"))
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(64 << 20) // small, so that a regression fails quickly
	f.Close()
	archive := filepath.Join(t.TempDir(), "sparse.tar")
	testutil.Run(t, "tar", "--sparse", "--format=pax", "-C", src, "-cf", archive, "huge")
	r, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dest := t.TempDir()
	_, err = ExtractTar(context.Background(), tar.NewReader(r), dest, "sparse.tar", ExtractOptions{Unprivileged: true})
	if !errors.Is(err, ErrFormat) {
		t.Fatalf("sparse entry: %v, want ErrFormat", err)
	}
	if _, err := os.Stat(filepath.Join(dest, "huge")); !os.IsNotExist(err) {
		t.Fatalf("sparse entry written: %v", err)
	}
}
