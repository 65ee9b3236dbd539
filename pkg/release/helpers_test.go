package release

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/colinux-ng/colinux/internal/testutil"
	"github.com/colinux-ng/colinux/pkg/fetch"
)

// testFrame keeps test images to several frames; testLevel keeps their
// compression fast (level 19 takes seconds a test image).
const (
	testFrame = 1 << 20
	testLevel = 3
)

// makeImage writes DIR/NAME.img, a 6 MiB ext4 image whose files hold 2 MiB
// of random bytes and 1 MiB of text (so frames are data, text and holes),
// and NAME.manifest.json as coimage build writes it.
func makeImage(t *testing.T, dir, name string) string {
	t.Helper()
	mke2fs := testutil.RequireTool(t, "mke2fs")
	tree := t.TempDir()
	random := make([]byte, 2<<20)
	rand.Read(random)
	os.WriteFile(filepath.Join(tree, "random"), random, 0o644)
	os.WriteFile(filepath.Join(tree, "text"), bytes.Repeat([]byte("coLinux NG release test\n"), 1<<20/24), 0o644)
	img := filepath.Join(dir, name+".img")
	testutil.Run(t, mke2fs, "-q", "-F", "-t", "ext4", "-d", tree, img, "6M")
	sum := sha256Hex(mustRead(t, img))
	m := map[string]any{
		"name": name, "distribution": "debian", "release": "bookworm", "architecture": hostArch(),
		"image":    map[string]any{"file": name + ".img", "size": 6 << 20, "sha256": sum},
		"packages": []map[string]any{{"name": "base-files", "version": "12.4"}, {"name": "dpkg", "version": "1.21"}},
	}
	data, _ := json.MarshalIndent(m, "", "  ")
	os.WriteFile(filepath.Join(dir, name+".manifest.json"), data, 0o644)
	return img
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// testKey makes a key pair in a temporary directory.
func testKey(t *testing.T) (minisign.PrivateKey, Key, string) {
	t.Helper()
	prefix := filepath.Join(t.TempDir(), "test")
	pub, key, err := GenerateKey(prefix, "")
	if err != nil {
		t.Fatal(err)
	}
	priv, err := LoadPrivateKey(key, "")
	if err != nil {
		t.Fatal(err)
	}
	k, err := LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return priv, k, pub
}

// fixture is a released image served over HTTP.
type fixture struct {
	img, dist string
	key       minisign.PrivateKey
	pub       Key
	pubFile   string
	index     *Index
	srv       *faultServer
	url       string // of index.json
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	fx := &fixture{dist: filepath.Join(t.TempDir(), "dist")}
	fx.img = makeImage(t, t.TempDir(), "testos-1")
	fx.key, fx.pub, fx.pubFile = testKey(t)
	res, err := Publish(context.Background(), []string{fx.img}, Options{Key: fx.key, Out: fx.dist, FrameSize: testFrame, Level: testLevel})
	if err != nil {
		t.Fatal(err)
	}
	fx.index = res.Index
	fx.srv = &faultServer{dir: fx.dist}
	ts := httptest.NewServer(fx.srv)
	t.Cleanup(ts.Close)
	fx.url = ts.URL + "/" + IndexFile
	return fx
}

func (fx *fixture) puller(t *testing.T) *Puller {
	return &Puller{Index: fx.url, Keys: []Key{fx.pub}, CacheDir: filepath.Join(t.TempDir(), "cache"),
		Client: &fetch.Client{Backoff: time.Millisecond, Tries: 3, Stall: 2 * time.Second}}
}

// resign replaces the served index with ix, signed by key.
func (fx *fixture) resign(t *testing.T, ix *Index, key minisign.PrivateKey) {
	t.Helper()
	data := ix.Marshal()
	os.WriteFile(filepath.Join(fx.dist, IndexFile), data, 0o644)
	os.WriteFile(filepath.Join(fx.dist, IndexFile+SigSuffix), Sign(key, data, IndexFile), 0o644)
}

// faultServer serves a directory, with faults injected per path.
type faultServer struct {
	dir    string
	mu     sync.Mutex
	status map[string]int    // path → HTTP status for every request
	dieAt  map[string]int64  // path → bytes sent before the first full GET drops
	body   map[string][]byte // path → bytes served instead of the file
	log    []string          // "PATH RANGE" of every request
}

func (s *faultServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p := r.URL.Path
	s.log = append(s.log, p+" "+r.Header.Get("Range"))
	status, die, body := s.status[p], s.dieAt[p], s.body[p]
	if die > 0 && r.Header.Get("Range") == "" {
		delete(s.dieAt, p)
	} else {
		die = 0
	}
	s.mu.Unlock()
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	if body == nil {
		var err error
		if body, err = os.ReadFile(filepath.Join(s.dir, filepath.FromSlash(strings.TrimPrefix(p, "/")))); err != nil {
			http.NotFound(w, r)
			return
		}
	}
	if die > 0 {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body[:die])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	http.ServeContent(w, r, p, time.Time{}, bytes.NewReader(body))
}

func (s *faultServer) set(f func(s *faultServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status == nil {
		s.status, s.dieAt, s.body = map[string]int{}, map[string]int64{}, map[string][]byte{}
	}
	f(s)
}

func (s *faultServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

// assertNoFiles fails when dir holds any regular file (a failed pull must
// leave nothing in the cache).
func assertNoFiles(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
}

func assertMissing(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists after a failure", path)
	}
}

// pullFails pulls ref to an --output and checks the error (errors.Is want
// and a message containing each of texts), that nothing is at the output
// and nothing in the cache.
func pullFails(t *testing.T, p *Puller, ref string, want error, texts ...string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.img")
	_, err := p.Pull(context.Background(), ref, out, false)
	if err == nil || want != nil && !errors.Is(err, want) {
		t.Fatalf("pull %s: err = %v, want %v", ref, err, want)
	}
	for _, s := range texts {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
	assertMissing(t, out)
	assertNoFiles(t, p.CacheDir)
	// The same into the cache.
	if _, err := p.Pull(context.Background(), ref, "", false); err == nil {
		t.Fatalf("pull %s into the cache succeeded", ref)
	}
	assertNoFiles(t, p.CacheDir)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
