package bootstrap

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/colinux-ng/colinux/internal/atomicfile"
	"github.com/colinux-ng/colinux/pkg/archive"
)

// maxText bounds the signed texts (pointers, checksum lists, directory
// listings) read into memory.
const maxText = 4 << 20

// fetcher downloads release files: small signed texts into memory, and
// images into a cache named by the digest the signed text promised,
// verified on the way in and again on every reuse.
type fetcher struct {
	http  *http.Client
	cache string // below the build's cache directory
}

func newFetcher(cacheDir string) *fetcher {
	c := archive.DefaultHTTPClient()
	// file:// mirrors (a local copy of a release tree) work like http ones.
	c.Transport.(*http.Transport).RegisterProtocol("file", http.NewFileTransport(http.Dir("/")))
	return &fetcher{http: c, cache: filepath.Join(cacheDir, "images")}
}

// open issues a GET and returns the body of a 200 response.
func (f *fetcher) open(ctx context.Context, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	resp, err := f.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, &archive.StatusError{URL: url, Status: resp.Status, Code: resp.StatusCode}
	}
	return resp.Body, nil
}

// text reads a small file whole.
func (f *fetcher) text(ctx context.Context, url string) ([]byte, error) {
	body, err := f.open(ctx, url)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, maxText+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if len(data) > maxText {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", url, maxText)
	}
	return data, nil
}

// copyTo streams url into w, reporting progress against total (-1 when
// unknown), and returns the byte count. limit caps what is read.
func (f *fetcher) copyTo(ctx context.Context, url string, w io.Writer, limit int64, progress func(done, total int64), total int64) (int64, error) {
	body, err := f.open(ctx, url)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	var done int64
	n, err := io.Copy(w, io.TeeReader(io.LimitReader(body, limit), writerFunc(func(p []byte) {
		done += int64(len(p))
		progress(done, total)
	})))
	if err != nil {
		return n, fmt.Errorf("GET %s: %w", url, err)
	}
	return n, nil
}

type writerFunc func([]byte)

func (w writerFunc) Write(p []byte) (int, error) { w(p); return len(p), nil }

// digest is what a signed text promises about a file.
type digest struct {
	Algo string // "SHA256" or "SHA512", as the texts spell them
	Sum  string // lowercase hex
	Size int64  // -1 when the text gives none
}

func (d digest) hash() hash.Hash {
	if d.Algo == "SHA512" {
		return sha512.New()
	}
	return sha256.New()
}

// check compares a file's size and digest with the promise.
func (d digest) check(name string, size int64, sum string) error {
	if d.Size >= 0 && size != d.Size {
		return fmt.Errorf("%s: %d bytes, expected %d: %w", name, size, d.Size, archive.ErrChecksum)
	}
	if sum != d.Sum {
		return fmt.Errorf("%s: %s %s, expected %s: %w", name, d.Algo, sum, d.Sum, archive.ErrChecksum)
	}
	return nil
}

// fetched is a verified file in the cache.
type fetched struct {
	Path   string
	SHA256 string // for the build manifest, whatever digest was checked
	Size   int64
}

// verified returns the cached file want describes, downloading it from
// url when absent. A download lands in the cache only once it matches; a
// cached file that no longer matches is an error, since something else
// changed it.
func (f *fetcher) verified(ctx context.Context, url string, want digest, progress func(done, total int64)) (*fetched, error) {
	if len(want.Sum) != want.hash().Size()*2 || strings.Trim(want.Sum, "0123456789abcdef") != "" {
		return nil, fmt.Errorf("%s: bad %s %q: %w", url, want.Algo, want.Sum, archive.ErrFormat)
	}
	path := filepath.Join(f.cache, strings.ToLower(want.Algo), want.Sum)
	if got, err := recheck(path, want); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return got, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	out, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return nil, err
	}
	defer out.Abort()
	h := newHashes(want)
	limit := want.Size + 1
	if want.Size < 0 {
		limit = 1 << 40
	}
	n, err := f.copyTo(ctx, url, io.MultiWriter(out, h), limit, progress, want.Size)
	if err != nil {
		return nil, err
	}
	if err := want.check(url, n, h.sum()); err != nil {
		return nil, err
	}
	return &fetched{Path: path, SHA256: h.sha256(), Size: n}, out.Commit()
}

// recheck hashes a cached file again; fs.ErrNotExist means not cached.
func recheck(path string, want digest) (*fetched, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	h := newHashes(want)
	n, err := io.Copy(h, file)
	if err != nil {
		return nil, err
	}
	if err := want.check("cached "+path, n, h.sum()); err != nil {
		return nil, err
	}
	return &fetched{Path: path, SHA256: h.sha256(), Size: n}, nil
}

// hashes computes the promised digest and SHA256 in one pass.
type hashes struct {
	io.Writer
	want, s256 hash.Hash
}

func newHashes(d digest) *hashes {
	h := &hashes{want: d.hash(), s256: sha256.New()}
	h.Writer = io.MultiWriter(h.want, h.s256)
	return h
}

func (h *hashes) sum() string    { return hex.EncodeToString(h.want.Sum(nil)) }
func (h *hashes) sha256() string { return hex.EncodeToString(h.s256.Sum(nil)) }

// pendingDebs are .debs downloading in the background: path hands each
// one out once it is verified, wait the outcome of them all.
type pendingDebs struct {
	ready []chan string // one verified path each, buffered
	done  chan struct{} // closed when the downloads have ended
	err   error         // set before done closes
}

// fetchInBackground starts downloading pkgs through c.
func fetchInBackground(ctx context.Context, c *archive.Client, pkgs []*archive.Package) *pendingDebs {
	p := &pendingDebs{ready: make([]chan string, len(pkgs)), done: make(chan struct{})}
	for i := range p.ready {
		p.ready[i] = make(chan string, 1)
	}
	go func() {
		_, p.err = c.FetchEach(ctx, pkgs, func(i int, path string) { p.ready[i] <- path })
		close(p.done)
	}()
	return p
}

// path waits for the i-th package's verified file; each is taken once.
func (p *pendingDebs) path(ctx context.Context, i int) (string, error) {
	select {
	case path := <-p.ready[i]:
		return path, nil
	case <-p.done:
		select {
		case path := <-p.ready[i]:
			return path, nil
		default:
		}
		if p.err != nil {
			return "", p.err
		}
		return "", fmt.Errorf("package %d: not downloaded", i)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// wait returns once every download has ended, with the first error.
func (p *pendingDebs) wait() error {
	<-p.done
	return p.err
}

// downloadsBehind serializes the calls of p, which come from the
// downloads and the unpacking at once, and silences the download phase
// once a later phase has begun: one bar at a time.
func downloadsBehind(p Progress) Progress {
	if p == nil {
		return nil
	}
	var (
		mu    sync.Mutex
		later bool
	)
	return func(phase string, done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		if phase == "download" && later {
			return
		}
		later = later || phase != "download" && phase != "index"
		p(phase, done, total)
	}
}
