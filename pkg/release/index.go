package release

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/colinux-ng/colinux/internal/lazyregexp"
	"github.com/colinux-ng/colinux/pkg/fetch"
)

// SchemaVersion is the index.json schema this package writes and reads.
const SchemaVersion = 1

// FormatCobdExt4 is the only image format so far: a bare ext4 filesystem.
const FormatCobdExt4 = "cobd-ext4"

// Limits on untrusted metadata.
const (
	maxIndexBytes = 16 << 20
	maxSigBytes   = 64 << 10
	maxImageSize  = 1 << 44 // 16 TiB
)

// Index is index.json: every published image, signed as a whole.
type Index struct {
	Schema    int       `json:"schema"`
	Generated time.Time `json:"generated"`
	// Expires: a client refuses the index afterwards, so a mirror cannot
	// keep serving an old one (a freeze attack). Republish to extend it.
	Expires time.Time `json:"expires"`
	Images  []Image   `json:"images"`
}

// Image is one published image at one serial.
type Image struct {
	Name    string   `json:"name"`
	Aliases []string `json:"aliases,omitempty"`
	OS      string   `json:"os"`
	Release string   `json:"release"`
	Arch    string   `json:"arch"`
	// Serial orders releases of one name: the UTC release time as
	// YYYYMMDDhhmmss, bumped when two would collide.
	Serial  int64     `json:"serial"`
	Created time.Time `json:"created"`
	Format  string    `json:"format"`
	// Size and SHA256 are the raw (decompressed) image's.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Path of the compressed image, relative to the index.
	Path             string `json:"path"`
	CompressedSize   int64  `json:"compressed_size"`
	CompressedSHA256 string `json:"compressed_sha256"`
	// FrameSize is the raw size of every zstd frame but the last.
	FrameSize int64 `json:"frame_size"`
	// Frames lists every frame's sizes and SHA256s, so a pull checks
	// and decompresses each frame as soon as it has arrived.
	Frames []FrameDigest `json:"frames"`
	// Packages is the build manifest's package count and PackagesSHA256
	// the SHA256 of its "packages" list (compact JSON).
	Packages       int    `json:"packages,omitempty"`
	PackagesSHA256 string `json:"packages_sha256,omitempty"`
	// Manifest is the build manifest, published beside the image.
	Manifest *File `json:"manifest,omitempty"`
}

// FrameDigest is one zstd frame of a compressed image.
type FrameDigest struct {
	CompressedSize   int64  `json:"compressed_size"`
	CompressedSHA256 string `json:"compressed_sha256"`
	Size             int64  `json:"size"`
	SHA256           string `json:"sha256"`
}

// File is a published file other than the image.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Ref names the image as NAME:SERIAL.
func (im *Image) Ref() string { return im.Name + ":" + strconv.FormatInt(im.Serial, 10) }

// Compressed is the digest of the compressed image.
func (im *Image) Compressed() fetch.Digest {
	return fetch.Digest{SHA256: im.CompressedSHA256, Size: im.CompressedSize}
}

var (
	namePattern = lazyregexp.New(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	wordPattern = lazyregexp.New(`^[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}$`)
	pathPattern = lazyregexp.New(`^[A-Za-z0-9._+-]+(/[A-Za-z0-9._+-]+)*$`)
)

// ParseIndex decodes and checks index.json. It does not check the
// signature or the expiry: see Verify and CheckExpiry. what names the
// file in errors.
func ParseIndex(data []byte, what string) (*Index, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var ix Index
	if err := dec.Decode(&ix); err != nil {
		return nil, fmt.Errorf("%s: %v: %w", what, err, ErrFormat)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: data after the JSON object: %w", what, ErrFormat)
	}
	if err := ix.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return &ix, nil
}

func (ix *Index) check() error {
	if ix.Schema != SchemaVersion {
		return fmt.Errorf("schema %d, this coimage reads %d: %w", ix.Schema, SchemaVersion, ErrFormat)
	}
	if ix.Generated.IsZero() || !ix.Expires.After(ix.Generated) {
		return fmt.Errorf("expires %s is not after generated %s: %w", ix.Expires, ix.Generated, ErrFormat)
	}
	owner := map[string]string{} // name or alias → the name it belongs to
	seen := map[string]bool{}    // name/arch/serial
	for i := range ix.Images {
		im := &ix.Images[i]
		if err := im.check(); err != nil {
			return fmt.Errorf("image %d (%q): %w", i, im.Name, err)
		}
		key := im.Name + "/" + im.Arch + "/" + strconv.FormatInt(im.Serial, 10)
		if seen[key] {
			return fmt.Errorf("image %s (%s) listed twice: %w", im.Ref(), im.Arch, ErrFormat)
		}
		seen[key] = true
		for _, n := range append([]string{im.Name}, im.Aliases...) {
			if o, ok := owner[n]; ok && o != im.Name {
				return fmt.Errorf("%q names both %s and %s: %w", n, o, im.Name, ErrFormat)
			}
			owner[n] = im.Name
		}
	}
	return nil
}

func (im *Image) check() error {
	bad := func(field string, v any) error { return fmt.Errorf("bad %s %v: %w", field, v, ErrFormat) }
	switch {
	case !namePattern.MatchString(im.Name):
		return bad("name", strconv.Quote(im.Name))
	case !wordPattern.MatchString(im.OS):
		return bad("os", strconv.Quote(im.OS))
	case !wordPattern.MatchString(im.Release):
		return bad("release", strconv.Quote(im.Release))
	case !wordPattern.MatchString(im.Arch):
		return bad("arch", strconv.Quote(im.Arch))
	case im.Serial <= 0:
		return bad("serial", im.Serial)
	case im.Format != FormatCobdExt4:
		return bad("format", strconv.Quote(im.Format))
	case im.Size <= 0 || im.Size > maxImageSize:
		return bad("size", im.Size)
	case !fetch.IsSHA256(im.SHA256):
		return bad("sha256", strconv.Quote(im.SHA256))
	case im.CompressedSize <= 0 || im.CompressedSize > maxImageSize:
		return bad("compressed_size", im.CompressedSize)
	case !fetch.IsSHA256(im.CompressedSHA256):
		return bad("compressed_sha256", strconv.Quote(im.CompressedSHA256))
	case im.FrameSize < minFrameSize || im.FrameSize > maxFrameSize:
		return bad("frame_size", im.FrameSize)
	case im.Packages < 0 || im.PackagesSHA256 != "" && !fetch.IsSHA256(im.PackagesSHA256):
		return bad("packages", im.PackagesSHA256)
	}
	for _, a := range im.Aliases {
		if !namePattern.MatchString(a) {
			return bad("alias", strconv.Quote(a))
		}
	}
	if err := checkPath(im.Path); err != nil {
		return err
	}
	if err := im.checkFrames(); err != nil {
		return err
	}
	if m := im.Manifest; m != nil {
		if m.Size < 0 || m.Size > maxIndexBytes || !fetch.IsSHA256(m.SHA256) {
			return bad("manifest", m.SHA256)
		}
		return checkPath(m.Path)
	}
	return nil
}

// checkFrames requires frames that tile the image (each FrameSize raw
// bytes but the last) and, followed by the seek table, the compressed file.
func (im *Image) checkFrames() error {
	if len(im.Frames) == 0 || len(im.Frames) > maxFrames {
		return fmt.Errorf("%d frames: %w", len(im.Frames), ErrFormat)
	}
	var raw, compressed int64
	for i, f := range im.Frames {
		last := i == len(im.Frames)-1
		switch {
		case !last && f.Size != im.FrameSize, last && (f.Size <= 0 || f.Size > im.FrameSize):
			return fmt.Errorf("frame %d holds %d bytes, frame_size is %d: %w", i, f.Size, im.FrameSize, ErrFormat)
		case f.CompressedSize <= 0 || f.CompressedSize > maxFrameSize*2:
			return fmt.Errorf("frame %d: compressed size %d: %w", i, f.CompressedSize, ErrFormat)
		case !fetch.IsSHA256(f.SHA256) || !fetch.IsSHA256(f.CompressedSHA256):
			return fmt.Errorf("frame %d: bad SHA256: %w", i, ErrFormat)
		}
		raw += f.Size
		compressed += f.CompressedSize
	}
	if raw != im.Size {
		return fmt.Errorf("frames hold %d bytes, size is %d: %w", raw, im.Size, ErrFormat)
	}
	if want := compressed + seekTableSize(len(im.Frames)); want != im.CompressedSize {
		return fmt.Errorf("frames and seek table make %d bytes, compressed_size is %d: %w", want, im.CompressedSize, ErrFormat)
	}
	return nil
}

// frameTable places the frames in the compressed file and the image.
func (im *Image) frameTable() []Frame {
	frames := make([]Frame, len(im.Frames))
	var off, raw int64
	for i, f := range im.Frames {
		frames[i] = Frame{Offset: off, CompressedSize: f.CompressedSize, RawOffset: raw, RawSize: f.Size,
			CompressedSHA256: f.CompressedSHA256, SHA256: f.SHA256}
		off += f.CompressedSize
		raw += f.Size
	}
	return frames
}

// checkPath accepts a plain relative path below the index's directory:
// no scheme, host, absolute path, "..", "." or escapes.
func checkPath(p string) error {
	if !pathPattern.MatchString(p) || len(p) > 1024 {
		return fmt.Errorf("path %q: %w", p, ErrUnsafePath)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("path %q: %w", p, ErrUnsafePath)
		}
	}
	return nil
}

// resolvePath returns the URL of a path named by the index at base, checking
// again that it stays below the index's directory on the same origin.
func resolvePath(base, p string) (string, error) {
	if err := checkPath(p); err != nil {
		return "", err
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("index URL %q: %w", base, err)
	}
	u := b.ResolveReference(&url.URL{Path: p})
	dir := b.Path[:strings.LastIndex(b.Path, "/")+1]
	if u.Scheme != b.Scheme || u.Host != b.Host || !strings.HasPrefix(u.Path, dir) {
		return "", fmt.Errorf("path %q leaves %s: %w", p, base, ErrUnsafePath)
	}
	return u.String(), nil
}

// CheckExpiry refuses an index whose expiry has passed at now.
func (ix *Index) CheckExpiry(what string, now time.Time) error {
	if now.After(ix.Expires) {
		return fmt.Errorf("%s expired on %s (generated %s); the publisher must re-sign it: %w",
			what, ix.Expires.UTC().Format(time.RFC3339), ix.Generated.UTC().Format(time.RFC3339), ErrExpired)
	}
	return nil
}

// Find returns the image named name (or an alias) for arch, at serial, or
// the newest serial when serial is 0.
func (ix *Index) Find(name string, serial int64, arch string) (*Image, error) {
	var best *Image
	var arches []string
	for i := range ix.Images {
		im := &ix.Images[i]
		if im.Name != name && !slices.Contains(im.Aliases, name) {
			continue
		}
		if im.Arch != arch {
			arches = append(arches, im.Arch)
			continue
		}
		if serial != 0 && im.Serial != serial {
			continue
		}
		if best == nil || im.Serial > best.Serial {
			best = im
		}
	}
	if best != nil {
		return best, nil
	}
	switch {
	case len(arches) > 0 && serial == 0:
		slices.Sort(arches)
		return nil, fmt.Errorf("image %s: none for %s (only %s): %w", name, arch, strings.Join(slices.Compact(arches), ", "), ErrNotFound)
	case serial != 0:
		return nil, fmt.Errorf("image %s: no serial %d for %s: %w", name, serial, arch, ErrNotFound)
	}
	return nil, fmt.Errorf("image %s: not in the index: %w", name, ErrNotFound)
}

// ParseRef splits NAME[:SERIAL]; serial 0 means the newest.
func ParseRef(ref string) (name string, serial int64, err error) {
	name, s, ok := strings.Cut(ref, ":")
	if !namePattern.MatchString(name) {
		return "", 0, fmt.Errorf("image name %q: use lower-case letters, digits, '.', '_' and '-'", name)
	}
	if ok {
		serial, err = strconv.ParseInt(s, 10, 64)
		if err != nil || serial <= 0 {
			return "", 0, fmt.Errorf("image %q: serial %q is not a positive number", ref, s)
		}
	}
	return name, serial, nil
}

// IsImageName reports whether arg has the form of NAME[:SERIAL] or an
// oci:// reference (corun uses it to tell image names from files).
func IsImageName(arg string) bool {
	if strings.HasPrefix(arg, ociScheme) {
		return true
	}
	_, _, err := ParseRef(arg)
	return err == nil
}

// Marshal encodes the index as published: indented, with a final newline.
func (ix *Index) Marshal() []byte {
	data, _ := json.MarshalIndent(ix, "", "  ")
	return append(data, '\n')
}
