// Package bootstraptest builds fixture mirrors for the Fedora and Gentoo
// sources at test time: release trees with the real file names, formats
// and signature types (clearsigned CHECKSUM, pointer and DIGESTS files, a
// detached snapshot signature) made with a key generated for the test
// (pgptest), around a tiny busybox root, served on 127.0.0.1.
package bootstraptest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/colinux-ng/colinux/pkg/pgpverify/pgptest"
)

// Serve serves dir over HTTP on 127.0.0.1 (directory listings included,
// as real mirrors have them) until the test ends, and returns its URL.
func Serve(t testing.TB, dir string) string {
	t.Helper()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return srv.URL
}

// write puts data at rel below dir.
func write(t testing.TB, dir, rel string, data []byte) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, data, 0o644))
}

// Tamper flips a byte in the middle of the file at rel below dir.
func Tamper(t testing.TB, dir, rel string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	data, err := os.ReadFile(p)
	must(t, err)
	data[len(data)/2] ^= 0xff
	must(t, os.WriteFile(p, data, 0o644))
}

// Resign replaces the clearsigned file at rel below dir with text signed
// by key (another key makes a bad signature; other text a stale list).
func Resign(t testing.TB, dir, rel string, key *pgptest.Key, text string) {
	t.Helper()
	write(t, dir, rel, key.Clearsign(t, text))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
