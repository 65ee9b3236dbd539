package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
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
