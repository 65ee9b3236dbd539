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
	"testing"

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

// TestLoadIndex: the first load fetches Packages.xz and parses it while
// decompressing, the second reads the decompressed file from the cache,
// and a decompressed file that differs from the Release is refused.
func TestLoadIndex(t *testing.T) {
	var xzData bytes.Buffer
	w, _ := xz.NewWriter(&xzData)
	w.Write([]byte(fixturePackages))
	w.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/dists/bookworm/main/binary-amd64/Packages.xz" {
			http.NotFound(rw, r)
			return
		}
		rw.Write(xzData.Bytes())
	}))
	newClient := func() *archive.Client {
		return &archive.Client{Mirror: srv.URL, Suite: "bookworm", Components: []string{"main"}, Arch: "amd64", CacheDir: t.TempDir()}
	}
	rel := &archive.Release{Files: map[string]archive.FileHash{
		"main/binary-amd64/Packages":    fileHash([]byte(fixturePackages + "\n")),
		"main/binary-amd64/Packages.xz": fileHash(xzData.Bytes()),
	}}
	if _, err := loadIndex(context.Background(), newClient(), rel); !errors.Is(err, archive.ErrChecksum) {
		t.Fatalf("index differing from the Release: %v, want ErrChecksum", err)
	}

	rel.Files["main/binary-amd64/Packages"] = fileHash([]byte(fixturePackages))
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
}
