package fetch

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// server serves one file with Range support and injected faults.
type server struct {
	mu      sync.Mutex
	data    []byte
	status  int   // when set, every request gets it
	dieAt   int64 // when > 0, the first full response stops after this many bytes
	stall   bool  // with dieAt: hang instead of closing
	noRange bool
	ranges  []string // Range headers seen, "" for none
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	status, dieAt, stall, data := s.status, s.dieAt, s.stall, s.data
	s.dieAt = 0
	s.mu.Unlock()
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	if s.noRange {
		r.Header.Del("Range")
	}
	if dieAt > 0 && r.Header.Get("Range") == "" {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data[:dieAt])
		w.(http.Flusher).Flush()
		if stall {
			<-r.Context().Done()
		}
		panic(http.ErrAbortHandler) // drops the connection mid-body
	}
	http.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(data))
}

func newServer(t *testing.T, data []byte) (*server, string) {
	s := &server{data: data}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts.URL + "/blob"
}

func randomData(t *testing.T, n int) ([]byte, Digest) {
	data := make([]byte, n)
	rand.Read(data)
	sum := sha256.Sum256(data)
	return data, Digest{SHA256: hex.EncodeToString(sum[:]), Size: int64(n)}
}

func testClient() *Client { return &Client{Backoff: time.Millisecond, Tries: 3} }

func download(t *testing.T, c *Client, rawURL string, want Digest) (string, error) {
	t.Helper()
	dest := filepath.Join(t.TempDir(), "out")
	src, err := c.URL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return dest, c.Download(context.Background(), src, dest, want, nil)
}

// assertNothing checks that a failed download left neither the output nor
// its .part file.
func assertNothing(t *testing.T, dest string) {
	t.Helper()
	for _, p := range []string{dest, dest + ".part"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind (%v)", p, err)
		}
	}
}

func assertFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes differ from the %d expected", path, len(got), len(want))
	}
	if _, err := os.Stat(path + ".part"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf(".part left beside %s", path)
	}
}

func TestDownloadHTTPAndFile(t *testing.T) {
	data, want := randomData(t, 1<<20)
	_, u := newServer(t, data)
	dest, err := download(t, testClient(), u, want)
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, dest, data)

	local := filepath.Join(t.TempDir(), "src")
	os.WriteFile(local, data, 0o644)
	dest, err = download(t, testClient(), (&url.URL{Scheme: "file", Path: filepath.ToSlash(local)}).String(), want)
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, dest, data)
}

func TestDownloadChangedByte(t *testing.T) {
	data, want := randomData(t, 300<<10)
	s, u := newServer(t, data)
	s.data = bytes.Clone(data)
	s.data[1234] ^= 1
	dest, err := download(t, testClient(), u, want)
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "SHA256") {
		t.Fatalf("err = %v, want a SHA256 mismatch", err)
	}
	assertNothing(t, dest)
}

func TestDownloadTruncated(t *testing.T) {
	data, want := randomData(t, 300<<10)
	s, u := newServer(t, data)
	s.data = data[:len(data)-100]
	dest, err := download(t, testClient(), u, want)
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "ended after") {
		t.Fatalf("err = %v, want truncated", err)
	}
	assertNothing(t, dest)
}

func TestDownloadTooLarge(t *testing.T) {
	data, want := randomData(t, 300<<10)
	s, u := newServer(t, data)
	s.data = append(bytes.Clone(data), 0)
	dest, err := download(t, testClient(), u, want)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want too large", err)
	}
	assertNothing(t, dest)
}

func TestDownloadServerDiesResumes(t *testing.T) {
	data, want := randomData(t, 2<<20)
	s, u := newServer(t, data)
	s.dieAt = 700 << 10
	dest, err := download(t, testClient(), u, want)
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, dest, data)
	if len(s.ranges) != 2 || s.ranges[0] != "" || !strings.HasPrefix(s.ranges[1], "bytes=") || s.ranges[1] == "bytes=0-" {
		t.Fatalf("requests %q: want a full GET, then a Range from where it stopped", s.ranges)
	}
}

func TestDownloadStalledResumes(t *testing.T) {
	data, want := randomData(t, 1<<20)
	s, u := newServer(t, data)
	s.dieAt, s.stall = 100<<10, true
	c := testClient()
	c.Stall = 200 * time.Millisecond
	dest, err := download(t, c, u, want)
	if err != nil {
		t.Fatal(err)
	}
	assertFile(t, dest, data)
	if len(s.ranges) != 2 || s.ranges[1] == "" {
		t.Fatalf("requests %q: want a resumed second request", s.ranges)
	}
}

// A .part left by an earlier run is resumed from its end; one holding
// bytes of another file is dropped and the download starts over.
func TestDownloadPartFromEarlierRun(t *testing.T) {
	data, want := randomData(t, 1<<20)
	for _, tc := range []struct {
		name   string
		prefix []byte
		ranges int
	}{
		{"good prefix", data[:400<<10], 1},
		{"stale prefix", bytes.Repeat([]byte{7}, 400<<10), 2},
		{"overlong", append(bytes.Clone(data), 1, 2, 3), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, u := newServer(t, data)
			dest := filepath.Join(t.TempDir(), "out")
			os.WriteFile(dest+".part", tc.prefix, 0o644)
			c := testClient()
			src, _ := c.URL(u)
			if err := c.Download(context.Background(), src, dest, want, nil); err != nil {
				t.Fatal(err)
			}
			assertFile(t, dest, data)
			if len(s.ranges) != tc.ranges {
				t.Fatalf("requests %q", s.ranges)
			}
			if tc.name == "good prefix" && s.ranges[0] != "bytes=409600-" {
				t.Fatalf("resumed with %q", s.ranges[0])
			}
		})
	}
}

func TestDownloadRangeIgnored(t *testing.T) {
	data, want := randomData(t, 1<<20)
	s, u := newServer(t, data)
	s.noRange = true
	dest := filepath.Join(t.TempDir(), "out")
	os.WriteFile(dest+".part", data[:1000], 0o644)
	c := testClient()
	src, _ := c.URL(u)
	if err := c.Download(context.Background(), src, dest, want, nil); err != nil {
		t.Fatal(err)
	}
	assertFile(t, dest, data)
}

func TestDownloadHTTPStatus(t *testing.T) {
	_, want := randomData(t, 10)
	for _, tc := range []struct {
		code, requests int
	}{{404, 1}, {500, 3}} {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			s, u := newServer(t, nil)
			s.status = tc.code
			dest, err := download(t, testClient(), u, want)
			var se *StatusError
			if !errors.As(err, &se) || se.Code != tc.code || !strings.Contains(err.Error(), u) {
				t.Fatalf("err = %v, want HTTP %d naming %s", err, tc.code, u)
			}
			if len(s.ranges) != tc.requests {
				t.Fatalf("%d requests, want %d", len(s.ranges), tc.requests)
			}
			assertNothing(t, dest)
		})
	}
}

func TestDownloadCancelKeepsPart(t *testing.T) {
	data, want := randomData(t, 1<<20)
	s, u := newServer(t, data)
	s.dieAt, s.stall = 100<<10, true
	ctx, cancel := context.WithCancel(context.Background())
	c := testClient()
	c.Progress = func(int64) { cancel() }
	dest := filepath.Join(t.TempDir(), "out")
	src, _ := c.URL(u)
	err := c.Download(ctx, src, dest, want, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want canceled", err)
	}
	if fi, err := os.Stat(dest + ".part"); err != nil || fi.Size() == 0 {
		t.Fatalf("the .part file should stay for a resume: %v", err)
	}
	if _, err := os.Stat(dest); err == nil {
		t.Fatal("output exists")
	}
}

func TestGetLimit(t *testing.T) {
	data, _ := randomData(t, 1000)
	_, u := newServer(t, data)
	c := testClient()
	src, _ := c.URL(u)
	if got, err := c.Get(context.Background(), src, 1000); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get: %v", err)
	}
	if _, err := c.Get(context.Background(), src, 999); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want too large", err)
	}
}

func TestURLRejects(t *testing.T) {
	for _, u := range []string{"ftp://x/y", "http:///y", "file://otherhost/x", "::"} {
		if _, err := testClient().URL(u); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
}

func TestCache(t *testing.T) {
	data, want := randomData(t, 100<<10)
	s, u := newServer(t, data)
	c := &Cache{Dir: t.TempDir(), Client: testClient()}
	src, _ := c.Client.URL(u)
	for range 2 {
		p, err := c.Get(context.Background(), src, want)
		if err != nil {
			t.Fatal(err)
		}
		assertFile(t, p, data)
	}
	if len(s.ranges) != 1 {
		t.Fatalf("%d requests: the second Get should come from the cache", len(s.ranges))
	}
	os.WriteFile(c.Path(want.SHA256), []byte("changed"), 0o644)
	if _, err := c.Get(context.Background(), src, want); !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), c.Path(want.SHA256)) {
		t.Fatalf("err = %v, want a mismatch naming the cached file", err)
	}
}

// onData sees each byte once, in order, a prefix kept from an earlier run
// first; its error removes the .part file.
func TestDownloadOnData(t *testing.T) {
	data, want := randomData(t, 1<<20)
	_, u := newServer(t, data)
	dest := filepath.Join(t.TempDir(), "out")
	os.WriteFile(PartPath(dest), data[:100<<10], 0o644)
	var seen bytes.Buffer
	c := testClient()
	src, _ := c.URL(u)
	err := c.Download(context.Background(), src, dest, want, func(off int64, p []byte) error {
		if off != int64(seen.Len()) {
			t.Errorf("offset %d after %d bytes", off, seen.Len())
		}
		seen.Write(p)
		return nil
	})
	if err != nil || !bytes.Equal(seen.Bytes(), data) {
		t.Fatalf("err %v, saw %d bytes", err, seen.Len())
	}
	boom := errors.New("bad piece")
	dest = filepath.Join(t.TempDir(), "out")
	err = c.Download(context.Background(), src, dest, want, func(off int64, p []byte) error {
		if off+int64(len(p)) > 500<<10 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || Retryable(err) {
		t.Fatalf("err = %v, want the hook's error, not retried", err)
	}
	assertNothing(t, dest)
}

// Two Downloads of one dest at once (two pulls of one image) take turns on
// the .part file: each sees every byte in order, neither's bytes
// interleave with the other's, and both end with the verified file.
func TestDownloadConcurrentSameDest(t *testing.T) {
	data, want := randomData(t, 1<<20)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		for b := data; len(b) > 0; b = b[min(len(b), 64<<10):] {
			w.Write(b[:min(len(b), 64<<10)])
			w.(http.Flusher).Flush()
			time.Sleep(5 * time.Millisecond)
		}
	})
	ts := httptest.NewServer(slow)
	defer ts.Close()
	c := testClient()
	src, err := c.URL(ts.URL + "/blob")
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "out")
	var mu sync.Mutex
	var seen []int // which download each onData call came from
	errs := make(chan error, 2)
	for id := range 2 {
		go func() {
			var next int64
			errs <- c.Download(context.Background(), src, dest, want, func(off int64, p []byte) error {
				if off != next {
					return errors.New("bytes out of order")
				}
				next += int64(len(p))
				mu.Lock()
				seen = append(seen, id)
				mu.Unlock()
				return nil
			})
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	assertFile(t, dest, data)
	switches := 0
	for i := 1; i < len(seen); i++ {
		if seen[i] != seen[i-1] {
			switches++
		}
	}
	if switches != 1 {
		t.Fatalf("the two downloads' bytes interleave (%d switches between them)", switches)
	}
}
