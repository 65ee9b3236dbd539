package bootstrap

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/ulikunitz/xz"

	"github.com/colinux-ng/colinux/pkg/archive"
)

const fixturePackages = `Package: base-files
Version: 12.4
Architecture: amd64
Priority: required
Essential: yes
Filename: pool/main/b/base-files/base-files_12.4_amd64.deb
Size: 70000
SHA256: 0000000000000000000000000000000000000000000000000000000000000001

Package: dash
Version: 0.5.12-2
Architecture: amd64
Priority: required
Depends: base-files
Filename: pool/main/d/dash/dash_0.5.12-2_amd64.deb
Size: 90000
SHA256: 0000000000000000000000000000000000000000000000000000000000000002
`

func fileHash(data []byte) archive.FileHash {
	sum := sha256.Sum256(data)
	return archive.FileHash{Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
}

// TestLoadIndex: the first load fetches the compressed index (Packages.gz
// where the Release lists it, else Packages.xz) and parses it while
// decompressing, the second reads the decompressed file from the cache,
// and a decompressed file that differs from the Release is refused.
func TestLoadIndex(t *testing.T) {
	var xzData, gzData bytes.Buffer
	w, _ := xz.NewWriter(&xzData)
	w.Write([]byte(fixturePackages))
	w.Close()
	zw := gzip.NewWriter(&gzData)
	zw.Write([]byte(fixturePackages))
	zw.Close()
	for _, ext := range []string{".xz", ".gz"} {
		t.Run(ext, func(t *testing.T) {
			t.Parallel()
			testLoadIndex(t, ext, map[string][]byte{".xz": xzData.Bytes(), ".gz": gzData.Bytes()})
		})
	}
}

func testLoadIndex(t *testing.T, ext string, compressed map[string][]byte) {
	var (
		mu     sync.Mutex
		served []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		e := filepath.Ext(r.URL.Path)
		if r.URL.Path != "/dists/bookworm/main/binary-amd64/Packages"+e || compressed[e] == nil {
			http.NotFound(rw, r)
			return
		}
		mu.Lock()
		served = append(served, e)
		mu.Unlock()
		rw.Write(compressed[e])
	}))
	defer srv.Close()
	newClient := func() *archive.Client {
		return &archive.Client{Mirror: srv.URL, Suite: "bookworm", Components: []string{"main"}, Arch: "amd64", CacheDir: t.TempDir()}
	}
	rel := &archive.Release{Files: map[string]archive.FileHash{
		"main/binary-amd64/Packages":    fileHash([]byte(fixturePackages + "\n")),
		"main/binary-amd64/Packages.xz": fileHash(compressed[".xz"]),
	}}
	if ext == ".gz" {
		rel.Files["main/binary-amd64/Packages.gz"] = fileHash(compressed[".gz"])
	}
	if _, err := loadIndex(context.Background(), newClient(), rel); !errors.Is(err, archive.ErrChecksum) {
		t.Fatalf("index differing from the Release: %v, want ErrChecksum", err)
	}
	// A download differing from the Release is refused whatever it
	// decompresses to, and nothing is cached.
	good := rel.Files["main/binary-amd64/Packages"+ext]
	rel.Files["main/binary-amd64/Packages"] = fileHash([]byte(fixturePackages))
	rel.Files["main/binary-amd64/Packages"+ext] = archive.FileHash{Size: good.Size, SHA256: fileHash([]byte("other")).SHA256}
	tampered := newClient()
	if _, err := loadIndex(context.Background(), tampered, rel); !errors.Is(err, archive.ErrChecksum) {
		t.Fatalf("download differing from the Release: %v, want ErrChecksum", err)
	}
	if names, _ := filepath.Glob(filepath.Join(tampered.CacheDir, indexArea, "*")); len(names) > 0 {
		t.Fatalf("a download differing from the Release left %q in the cache", names)
	}
	rel.Files["main/binary-amd64/Packages"+ext] = good
	mu.Lock()
	served = nil
	mu.Unlock()

	c := newClient()
	for _, pass := range []string{"fetched", "cached"} {
		if pass == "cached" {
			srv.Close() // the second load must not need the mirror
		}
		ix, err := loadIndex(context.Background(), c, rel)
		if err != nil {
			t.Fatalf("%s: %v", pass, err)
		}
		if p := ix.Lookup("dash"); p == nil || p.Version != "0.5.12-2" || ix.Lookup("base-files") == nil {
			t.Fatalf("%s: index lacks the fixture's packages: dash = %+v", pass, p)
		}
		cached := filepath.Join(c.CacheDir, indexArea, rel.Files["main/binary-amd64/Packages"].SHA256)
		if data, err := os.ReadFile(cached); err != nil || string(data) != fixturePackages {
			t.Fatalf("%s: decompressed index not cached: %v", pass, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(served) != 1 || served[0] != ext {
		t.Fatalf("downloaded %q, want the %s index once", served, ext)
	}
}
