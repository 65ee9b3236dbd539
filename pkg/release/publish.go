package release

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"aead.dev/minisign"
	"golang.org/x/sync/errgroup"

	"github.com/colinux-ng/colinux/internal/atomicfile"
	"github.com/colinux-ng/colinux/pkg/fetch"
)

// Published file names in a release directory.
const (
	IndexFile = "index.json"
	SumsFile  = "SHA256SUMS"
	SigSuffix = ".minisig"
)

// DefaultValidFor is how long a published index stays valid.
const DefaultValidFor = 30 * 24 * time.Hour

// Options says where and how Publish releases images.
type Options struct {
	Key minisign.PrivateKey
	// Out is the release directory; "" only pushes.
	Out string
	// Push is oci://HOST[:PORT]/REPO[:TAG]; "" pushes nothing.
	Push      string
	PlainHTTP bool // speak plain HTTP to a registry that is not on loopback
	// Keep is how many serials of each image name and arch Out keeps; 0
	// keeps all.
	Keep      int
	ValidFor  time.Duration // default DefaultValidFor
	FrameSize int64         // default DefaultFrameSize
	Level     int           // zstd level, 1 to DefaultLevel; default DefaultLevel
	Now       time.Time     // default: the current time
	// Progress, if set, receives raw image bytes compressed.
	Progress func(n int64)
}

// Result is what Publish did.
type Result struct {
	Images []Image  // released now
	Index  *Index   // the new index in Out, or nil
	Pushed []string // registry references pushed
}

// Publish compresses and signs images (cobd image files; each one's
// NAME.manifest.json from coimage build is read when present) into a
// release directory, a registry, or both. The directory changes only once
// everything is ready: new images go in new serial directories, then the
// signatures, index.json and SHA256SUMS are renamed into place, then
// serials beyond Keep are removed. A failure before that leaves it as it
// was. Releasing with no images re-signs the index with a new expiry.
func Publish(ctx context.Context, images []string, opt Options) (res *Result, err error) {
	if opt.Out == "" && opt.Push == "" {
		return nil, errors.New("release: give --out DIR, --push oci://…, or both")
	}
	if opt.Push != "" && len(images) == 0 {
		return nil, errors.New("release: --push needs at least one IMAGE")
	}
	if opt.ValidFor <= 0 {
		opt.ValidFor = DefaultValidFor
	}
	if opt.FrameSize == 0 {
		opt.FrameSize = DefaultFrameSize
	}
	if opt.Level == 0 {
		opt.Level = DefaultLevel
	}
	if opt.Level < 1 || opt.Level > DefaultLevel {
		return nil, fmt.Errorf("release: zstd level %d: use 1 to %d (larger levels need windows pull refuses)", opt.Level, DefaultLevel)
	}
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	opt.Now = opt.Now.UTC().Truncate(time.Second)
	pub, _ := opt.Key.Public().(minisign.PublicKey)
	own := []Key{{PublicKey: pub, File: "the public half of --key"}}

	inputs := make([]*input, len(images))
	for i, p := range images {
		in, err := readInput(p)
		if err != nil {
			return nil, err
		}
		inputs[i] = in
	}
	var old *Index
	var oldSums Sums
	stageParent := os.TempDir()
	if opt.Out != "" {
		if _, err := os.Stat(opt.Out); errors.Is(err, fs.ErrNotExist) {
			defer func() {
				if err != nil {
					os.Remove(opt.Out) // made here, and empty again
				}
			}()
		}
		if err := os.MkdirAll(opt.Out, 0o755); err != nil {
			return nil, err
		}
		unlock, err := lockDir(opt.Out)
		if err != nil {
			return nil, err
		}
		defer unlock()
		if old, oldSums, err = loadExisting(opt.Out, own); err != nil {
			return nil, err
		}
		stageParent = opt.Out
	}
	stage, err := os.MkdirTemp(stageParent, ".coimage-release-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)

	res = &Result{}
	var prev []Image
	if old != nil {
		prev = old.Images
	}
	for _, in := range inputs {
		serial := nextSerial(opt.Now, slices.Concat(prev, res.Images), in.name)
		im, err := stageImage(ctx, in, stage, serial, opt)
		if err != nil {
			return nil, err
		}
		res.Images = append(res.Images, *im)
	}
	if opt.Push != "" {
		pushed, err := pushAll(ctx, opt, res.Images, stage)
		if err != nil {
			return nil, err
		}
		res.Pushed = pushed
	}
	if opt.Out != "" {
		ix, err := commitDir(opt, old, oldSums, res.Images, stage)
		if err != nil {
			return nil, err
		}
		res.Index = ix
	}
	return res, nil
}

// nextSerial is now as YYYYMMDDhhmmss, or one more than the newest serial
// of name when that is not smaller.
func nextSerial(now time.Time, existing []Image, name string) int64 {
	s, _ := strconv.ParseInt(now.Format("20060102150405"), 10, 64)
	for _, im := range existing {
		if im.Name == name && im.Serial >= s {
			s = im.Serial + 1
		}
	}
	return s
}

// stageImage compresses one input below stage at its release path and
// returns its index entry.
func stageImage(ctx context.Context, in *input, stage string, serial int64, opt Options) (*Image, error) {
	dir := path.Join("images", in.name, strconv.FormatInt(serial, 10))
	im := &Image{
		Name: in.name, OS: in.os, Release: in.release, Arch: in.arch, Serial: serial,
		Created: opt.Now, Format: FormatCobdExt4, Size: in.size,
		Path: path.Join(dir, in.name+".img.zst"), FrameSize: opt.FrameSize,
		Packages: in.packages, PackagesSHA256: in.packagesHash,
	}
	if alias := in.os + "-" + in.release; alias != in.name && namePattern.MatchString(alias) {
		im.Aliases = []string{alias}
	}
	if !namePattern.MatchString(in.name) {
		return nil, fmt.Errorf("%s: image name %q: use lower-case letters, digits, '.', '_' and '-'", in.path, in.name)
	}
	if err := os.MkdirAll(filepath.Join(stage, filepath.FromSlash(dir)), 0o755); err != nil {
		return nil, err
	}
	src, err := os.Open(in.path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dst, err := os.Create(filepath.Join(stage, filepath.FromSlash(im.Path)))
	if err != nil {
		return nil, err
	}
	defer dst.Close()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { // the raw hash, read in order beside the parallel compression
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(src, 0, in.size)); err != nil {
			return err
		}
		im.SHA256 = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(dst, h)}
	g.Go(func() error {
		frames, err := Compress(gctx, src, in.size, opt.FrameSize, opt.Level, cw, opt.Progress)
		for _, f := range frames {
			im.Frames = append(im.Frames, FrameDigest{CompressedSize: f.CompressedSize, CompressedSHA256: f.CompressedSHA256,
				Size: f.RawSize, SHA256: f.SHA256})
		}
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("%s: %w", in.path, err)
	}
	if in.wantSHA256 != "" && im.SHA256 != in.wantSHA256 {
		return nil, fmt.Errorf("%s: SHA256 %s, but its manifest %s says %s: the image changed after the build: %w",
			in.path, im.SHA256, in.manifestPath, in.wantSHA256, ErrChecksum)
	}
	im.CompressedSize, im.CompressedSHA256 = cw.n, hex.EncodeToString(h.Sum(nil))
	if err := dst.Sync(); err != nil {
		return nil, err
	}
	if in.manifest != nil {
		sum := sha256.Sum256(in.manifest)
		im.Manifest = &File{Path: path.Join(dir, in.name+".manifest.json"), Size: int64(len(in.manifest)), SHA256: hex.EncodeToString(sum[:])}
		if err := os.WriteFile(filepath.Join(stage, filepath.FromSlash(im.Manifest.Path)), in.manifest, 0o644); err != nil {
			return nil, err
		}
	}
	if err := im.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", in.path, err)
	}
	return im, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// loadExisting reads a release directory's signed index and SHA256SUMS,
// which must be signed by the releasing key.
func loadExisting(dir string, own []Key) (*Index, Sums, error) {
	read := func(name string) ([]byte, error) {
		p := filepath.Join(dir, name)
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		sig, err := os.ReadFile(p + SigSuffix)
		if err != nil {
			return nil, fmt.Errorf("%s has no readable signature: %w", p, err)
		}
		if err := Verify(own, data, sig, p); err != nil {
			return nil, fmt.Errorf("%w; release into another --out, or with the key that signed it", err)
		}
		return data, nil
	}
	data, err := read(IndexFile)
	if err != nil || data == nil {
		return nil, nil, err
	}
	ix, err := ParseIndex(data, filepath.Join(dir, IndexFile))
	if err != nil {
		return nil, nil, err
	}
	sumsData, err := read(SumsFile)
	if err != nil {
		return nil, nil, err
	}
	sums, err := ParseSums(sumsData, filepath.Join(dir, SumsFile))
	if err != nil {
		return nil, nil, err
	}
	return ix, sums, nil
}

// commitDir writes the new index into the release directory.
func commitDir(opt Options, old *Index, oldSums Sums, added []Image, stage string) (*Index, error) {
	ix := &Index{Schema: SchemaVersion, Generated: opt.Now, Expires: opt.Now.Add(opt.ValidFor)}
	if old != nil {
		ix.Images = old.Images
	}
	ix.Images = append(slices.Clone(ix.Images), added...)
	dropped := prune(ix, opt.Keep)
	if err := ix.check(); err != nil {
		return nil, err
	}
	files := map[string]fetch.Digest{}
	for _, im := range ix.Images {
		files[im.Path] = im.Compressed()
		if m := im.Manifest; m != nil {
			files[m.Path] = fetch.Digest{SHA256: m.SHA256, Size: m.Size}
		}
	}
	// Files kept from earlier releases are signed again: check them first.
	sums := Sums{}
	for p, want := range files {
		sums[p] = want.SHA256
		if _, isNew := findPath(added, p); isNew {
			continue
		}
		if s, ok := oldSums[p]; ok && s != want.SHA256 {
			return nil, fmt.Errorf("%s: SHA256SUMS and index.json disagree on %s: %w", opt.Out, p, ErrFormat)
		}
		file := filepath.Join(opt.Out, filepath.FromSlash(p))
		if ok, err := fetch.VerifyFile(file, want); !ok {
			return nil, fmt.Errorf("%s, released earlier, is missing or changed: %v", file, err)
		}
	}
	ixData := ix.Marshal()
	ixSig := Sign(opt.Key, ixData, IndexFile)
	sums[IndexFile], sums[IndexFile+SigSuffix] = sha256Hex(ixData), sha256Hex(ixSig)
	sumsData := sums.Marshal()
	sumsSig := Sign(opt.Key, sumsData, SumsFile)

	var moved []string
	undo := func() {
		for _, d := range moved {
			os.RemoveAll(d)
		}
	}
	for _, im := range added {
		rel := filepath.FromSlash(path.Dir(im.Path))
		dst := filepath.Join(opt.Out, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			undo()
			return nil, err
		}
		if err := os.Rename(filepath.Join(stage, rel), dst); err != nil {
			undo()
			return nil, err
		}
		moved = append(moved, dst)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{IndexFile + SigSuffix, ixSig}, {IndexFile, ixData}, {SumsFile + SigSuffix, sumsSig}, {SumsFile, sumsData}} {
		if err := atomicfile.WriteFile(filepath.Join(opt.Out, f.name), f.data, 0o644); err != nil {
			undo()
			return nil, err
		}
		moved = nil // once the signature changed, the new serials must stay
	}
	for _, im := range dropped {
		os.RemoveAll(filepath.Join(opt.Out, filepath.FromSlash(path.Dir(im.Path))))
		os.Remove(filepath.Join(opt.Out, "images", im.Name)) // only when empty
	}
	return ix, nil
}

func findPath(images []Image, p string) (*Image, bool) {
	for i := range images {
		if images[i].Path == p || images[i].Manifest != nil && images[i].Manifest.Path == p {
			return &images[i], true
		}
	}
	return nil, false
}

// prune keeps the newest keep serials of each name and arch (all when keep
// is 0), sorts the index, and returns the images dropped.
func prune(ix *Index, keep int) []Image {
	slices.SortFunc(ix.Images, func(a, b Image) int {
		if a.Name != b.Name {
			return cmp.Compare(a.Name, b.Name)
		}
		if a.Arch != b.Arch {
			return cmp.Compare(a.Arch, b.Arch)
		}
		return cmp.Compare(b.Serial, a.Serial) // newest first
	})
	if keep <= 0 {
		return nil
	}
	var kept, dropped []Image
	n := 0
	for i, im := range ix.Images {
		if i == 0 || im.Name != ix.Images[i-1].Name || im.Arch != ix.Images[i-1].Arch {
			n = 0
		}
		n++
		if n <= keep {
			kept = append(kept, im)
		} else {
			dropped = append(dropped, im)
		}
	}
	ix.Images = kept
	return dropped
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// lockDir keeps two releases from writing one directory at once.
func lockDir(dir string) (func(), error) {
	p := filepath.Join(dir, ".coimage-release.lock")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("%s exists: another release is writing %s (remove it if none is)", p, dir)
		}
		return nil, err
	}
	fmt.Fprintln(f, os.Getpid())
	f.Close()
	return func() { os.Remove(p) }, nil
}
