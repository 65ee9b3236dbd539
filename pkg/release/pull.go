package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/colinux-ng/colinux/internal/atomicfile"
	"github.com/colinux-ng/colinux/pkg/fetch"
	"golang.org/x/sync/errgroup"
)

// Bar is a progress display (internal/progress.Bar fits).
type Bar interface {
	Add(n int64)
	Done()
}

// Puller fetches, verifies and caches images. DefaultPuller fills it from
// the user's configuration.
type Puller struct {
	// Index is the URL (https, http or file) of index.json, or of the
	// directory holding it (ending in /).
	Index string
	// Keys are the trusted public keys; a signature by any of them counts.
	Keys []Key
	// CacheDir holds images/NAME/SERIAL.img and the downloads being made.
	CacheDir  string
	Client    *fetch.Client // default: a fetch.Client with its defaults
	PlainHTTP bool          // plain HTTP to a registry that is not on loopback
	Arch      string        // Debian architecture; default: the host's
	// NewBar, if set, makes a progress display for total bytes of what.
	NewBar func(total int64, what string) Bar
	// Now, if set, replaces the clock (for expiry checks).
	Now func() time.Time
}

// Pulled is an image in the cache or at an --output, verified.
type Pulled struct {
	Path     string    `json:"path"`
	Source   string    `json:"source"` // index URL or oci:// reference
	Verified time.Time `json:"verified"`
	Cached   bool      `json:"cached"` // was already there; nothing downloaded
	Image    Image     `json:"image"`
}

func (p *Puller) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Puller) client() *fetch.Client {
	if p.Client == nil {
		p.Client = &fetch.Client{}
	}
	return p.Client
}

func (p *Puller) arch() string {
	if p.Arch != "" {
		return p.Arch
	}
	return hostArch()
}

// Pull makes the image ref (NAME[:SERIAL] from the index, or an oci://
// reference) available verified and returns where. With output "" it goes
// to the cache, and an image already cached at the chosen serial is used
// as it is; otherwise to output, which must not exist unless force. The
// order of checks: the index's (or config's) signature, its expiry, the
// compressed SHA256 while downloading, the raw SHA256 after decompressing;
// only then is the image renamed into place.
func (p *Puller) Pull(ctx context.Context, ref, output string, force bool) (*Pulled, error) {
	if output != "" && !force {
		if _, err := os.Lstat(output); err == nil {
			return nil, fmt.Errorf("%s exists; give --force to replace it", output)
		}
	}
	var (
		im     *Image
		src    fetch.Source
		source string
		err    error
	)
	if strings.HasPrefix(ref, ociScheme) {
		im, src, err = p.ociImage(ctx, ref)
		source = ref
	} else {
		im, src, source, err = p.indexImage(ctx, ref)
	}
	if err != nil {
		return nil, err
	}
	if output == "" {
		if rec, ok := p.cached(im); ok {
			return rec, nil
		}
	}
	return p.install(ctx, im, src, source, output)
}

// indexURL is the configured index.json URL.
func (p *Puller) indexURL() (string, error) {
	u := p.Index
	if u == "" {
		return "", fmt.Errorf("no image index configured: give --index URL, or put its URL in %s", ConfigPath(configIndexFile))
	}
	if strings.HasSuffix(u, "/") {
		u += IndexFile
	}
	return u, nil
}

// indexImage fetches and verifies the index and finds NAME[:SERIAL] in it.
func (p *Puller) indexImage(ctx context.Context, ref string) (*Image, fetch.Source, string, error) {
	name, serial, err := ParseRef(ref)
	if err != nil {
		return nil, nil, "", err
	}
	ix, u, err := p.FetchIndex(ctx)
	if err != nil {
		return nil, nil, "", err
	}
	im, err := ix.Find(name, serial, p.arch())
	if err != nil {
		return nil, nil, "", fmt.Errorf("%s: %w", u, err)
	}
	blob, err := resolvePath(u, im.Path)
	if err != nil {
		return nil, nil, "", fmt.Errorf("%s: image %s: %w", u, im.Ref(), err)
	}
	src, err := p.client().URL(blob)
	if err != nil {
		return nil, nil, "", err
	}
	return im, src, u, nil
}

// FetchIndex downloads index.json and its signature, and returns the index
// once a trusted key's signature, the schema and the expiry check out.
func (p *Puller) FetchIndex(ctx context.Context) (*Index, string, error) {
	u, err := p.indexURL()
	if err != nil {
		return nil, "", err
	}
	c := p.client()
	get := func(raw string, limit int64) ([]byte, error) {
		src, err := c.URL(raw)
		if err != nil {
			return nil, err
		}
		return c.Get(ctx, src, limit)
	}
	data, err := get(u, maxIndexBytes)
	if err != nil {
		return nil, "", err
	}
	sig, err := get(u+SigSuffix, maxSigBytes)
	if err != nil {
		return nil, "", fmt.Errorf("signature of the index: %w", err)
	}
	if err := Verify(p.Keys, data, sig, u); err != nil {
		return nil, "", err
	}
	ix, err := ParseIndex(data, u)
	if err != nil {
		return nil, "", err
	}
	if err := ix.CheckExpiry(u, p.now()); err != nil {
		return nil, "", err
	}
	return ix, u, nil
}

// Cache layout below CacheDir.
const (
	imagesDir    = "images"
	downloadsDir = "downloads"
)

func (p *Puller) cachePath(im *Image) string {
	return filepath.Join(p.CacheDir, imagesDir, im.Name, strconv.FormatInt(im.Serial, 10)+".img")
}

// cached returns the cache's record of im when its image file is there
// with the recorded size and the record names im's SHA256. The cache is
// written only by Pull, and corun opens cached images read-only.
func (p *Puller) cached(im *Image) (*Pulled, bool) {
	path := p.cachePath(im)
	rec, err := readRecord(strings.TrimSuffix(path, ".img") + ".json")
	if err != nil || rec.Image.SHA256 != im.SHA256 || rec.Image.Size != im.Size {
		return nil, false
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != im.Size {
		return nil, false
	}
	rec.Path, rec.Cached = path, true
	return rec, true
}

func readRecord(path string) (*Pulled, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rec Pulled
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &rec, nil
}

// install downloads im's compressed file from src into the download area
// (resuming a .part an earlier run left) and decompresses each frame as
// soon as it has arrived and checked out, into a file beside dest that is
// renamed into place once every frame's raw SHA256 matched. The compressed
// file is removed afterwards; so is the .part when the bytes were bad.
func (p *Puller) install(ctx context.Context, im *Image, src fetch.Source, source, output string) (*Pulled, error) {
	dest := output
	if dest == "" {
		if p.CacheDir == "" {
			return nil, errors.New("no cache directory")
		}
		dest = p.cachePath(im)
	}
	blob := filepath.Join(p.CacheDir, downloadsDir, im.CompressedSHA256+".zst")
	for _, d := range []string{filepath.Dir(dest), filepath.Dir(blob)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	out, err := atomicfile.Create(dest, 0o644)
	if err != nil {
		return nil, err
	}
	defer out.Abort()
	defer os.Remove(blob)
	atomicfile.MarkSparse(out.File)

	// One bar: decompression keeps up with the download frame by frame.
	c := *p.client()
	bar := p.bar(im.CompressedSize, "pull "+im.Ref())
	c.Progress = bar.Add
	u := newUnpacker(im.frameTable(), out.File, fetch.PartPath(blob), src.String())
	defer u.close()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := c.Download(gctx, src, blob, im.Compressed(), u.see); err != nil {
			return err
		}
		u.finish()
		return nil
	})
	g.Go(func() error { return u.run(gctx) })
	err = g.Wait()
	bar.Done()
	if err != nil {
		if badContent(err) {
			os.Remove(fetch.PartPath(blob)) // keep nothing of a bad file
		}
		return nil, err
	}
	if err := u.checkSeekTable(); err != nil {
		return nil, err
	}
	if err := out.Commit(); err != nil {
		return nil, err
	}
	rec := &Pulled{Path: dest, Source: source, Verified: p.now().UTC().Truncate(time.Second), Image: *im}
	if output == "" {
		data, _ := json.MarshalIndent(rec, "", "  ")
		if err := atomicfile.WriteFile(strings.TrimSuffix(dest, ".img")+".json", append(data, '\n'), 0o644); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// badContent tells a file that is wrong from a transfer that stopped (a
// dead link, Ctrl-C), whose .part a later pull resumes.
func badContent(err error) bool {
	for _, e := range []error{ErrChecksum, ErrFormat, errBomb, fetch.ErrTruncated, fetch.ErrTooLarge} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

type noBar struct{}

func (noBar) Add(int64) {}
func (noBar) Done()     {}

func (p *Puller) bar(total int64, what string) Bar {
	if p.NewBar == nil {
		return noBar{}
	}
	return p.NewBar(total, what)
}
