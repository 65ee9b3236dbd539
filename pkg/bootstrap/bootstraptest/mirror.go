package bootstraptest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
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
func Resign(t testing.TB, dir, rel string, key *Key, text string) {
	t.Helper()
	write(t, dir, rel, key.Clearsign(t, text))
}
