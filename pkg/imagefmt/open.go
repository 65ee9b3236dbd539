package imagefmt

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// maxBackingDepth bounds a chain of backing files.
const maxBackingDepth = 16

// entry is one disk format in the table: how to recognise an image of it
// and how to open one. A new format is one file holding its probe and
// open, plus one line in formatTable.
type entry struct {
	format Format
	// probe reports whether the image is in this format from its first
	// bytes (head, up to 512) or, for a format known by its last bytes,
	// by reading r, which is size bytes long (-1 when r cannot tell).
	probe func(head []byte, r io.ReaderAt, size int64) bool
	open  func(img *image) (Disk, error)
}

// formatTable lists the formats in the order they are probed; raw, which
// has no magic, comes last and takes anything.
func formatTable() []entry {
	return []entry{
		{QCOW2, probeQCOW2, openQCOW2},
		{XZ, probeXZ, openXZ},
		{VMDK, probeVMDK, openVMDK},
		{VHDX, probeVHDX, openVHDX},
		{VDI, probeVDI, openVDI},
		{VHD, probeVHD, openVHD},
		{Raw, func([]byte, io.ReaderAt, int64) bool { return true }, openRaw},
	}
}

// image is an image being opened.
type image struct {
	ctx  context.Context
	r    io.ReaderAt
	size int64
	// f is the image's file and path its name; nil and "" when the image
	// was handed over as an io.ReaderAt. Formats that refer to other
	// files (backing files, vmdk extents) find them from path.
	f    *os.File
	path string
	opt  Options
	// chain lists the images whose backing file this is, outermost first.
	chain []string
}

// name is how errors name the image.
func (img *image) name() string {
	if img.path == "" {
		return "image"
	}
	return img.path
}

// Detect reports the format of the image r by its magic numbers. Anything
// not recognised is Raw, as a raw disk has no magic of its own.
func Detect(r io.ReaderAt) (Format, error) {
	size, ok := sizeOf(r)
	if !ok {
		size = -1
	}
	return detect(r, size)
}

func detect(r io.ReaderAt, size int64) (Format, error) {
	var buf [512]byte
	n, err := r.ReadAt(buf[:], 0)
	if err != nil && err != io.EOF {
		return "", err
	}
	for _, e := range formatTable() {
		if e.probe(buf[:n], r, size) {
			return e.format, nil
		}
	}
	return Raw, nil
}

// sizeOf returns the size of r when r can tell it, as *os.File,
// *io.SectionReader and *bytes.Reader can.
func sizeOf(r io.ReaderAt) (int64, bool) {
	switch r := r.(type) {
	case interface{ Stat() (os.FileInfo, error) }:
		fi, err := r.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return 0, false
		}
		return fi.Size(), true
	case interface{ Size() int64 }:
		return r.Size(), true
	}
	return 0, false
}

// Open detects the format of the image at path and opens it.
func Open(path string, opt Options) (Disk, error) {
	return OpenContext(context.Background(), path, opt)
}

// OpenContext is Open with a context that cancels long work done while
// opening, such as decompressing an xz image.
func OpenContext(ctx context.Context, path string, opt Options) (Disk, error) {
	return openImage(ctx, path, "", opt, nil)
}

// openImage opens path as format, or as the detected format when format
// is empty.
func openImage(ctx context.Context, path string, format Format, opt Options, chain []string) (Disk, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	d, err := openFile(ctx, f, path, format, opt, chain)
	if err != nil {
		f.Close()
		return nil, &os.PathError{Op: "open image", Path: path, Err: err}
	}
	return d, nil
}

// openFile opens the image in f. On success the Disk owns f.
func openFile(ctx context.Context, f *os.File, path string, format Format, opt Options, chain []string) (Disk, error) {
	// Seek rather than Stat so that block devices report their size.
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	if format == "" {
		if format, err = detect(f, size); err != nil {
			return nil, err
		}
	}
	img := &image{ctx: ctx, r: f, size: size, f: f, path: path, opt: opt, chain: chain}
	for _, e := range formatTable() {
		if e.format == format {
			return e.open(img)
		}
	}
	return nil, fmt.Errorf("unknown image format %q: %w", format, ErrUnsupported)
}

// openReader opens r, size bytes long, as format, for the New* functions.
// The caller keeps r and closes it after the Disk.
func openReader(r io.ReaderAt, size int64, format Format) (Disk, error) {
	if size < 0 {
		return nil, fmt.Errorf("%s: negative file size %d", format, size)
	}
	img := &image{ctx: context.Background(), r: r, size: size}
	for _, e := range formatTable() {
		if e.format == format {
			return e.open(img)
		}
	}
	return nil, fmt.Errorf("unknown image format %q: %w", format, ErrUnsupported)
}

// openBacking returns how img opens the backing file it names, or nil when
// backing files are not followed (the reader then fails with ErrBacking).
func (img *image) openBacking() backingOpener {
	if !img.opt.AllowBacking || img.path == "" {
		return nil
	}
	chain := append(slices.Clip(img.chain), filepath.Clean(img.path))
	return func(name string, format Format) (Disk, error) {
		if !filepath.IsAbs(name) {
			name = filepath.Join(filepath.Dir(img.path), name)
		}
		switch {
		case slices.Contains(chain, filepath.Clean(name)):
			return nil, errorf(ErrFormat, "backing chain loops back to %s", name)
		case len(chain) >= maxBackingDepth:
			return nil, errorf(ErrUnsupported, "backing chain longer than %d images", maxBackingDepth)
		}
		return openImage(img.ctx, name, format, img.opt, chain)
	}
}

// closer returns what the Disk closes: the image's file when it owns one.
func (img *image) closer() io.Closer {
	if img.f == nil {
		return nil
	}
	return img.f
}

// errorf returns an error wrapping sentinel, which is one of ErrFormat,
// ErrUnsupported or ErrBacking, with the message in front of it.
func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), sentinel)
}

// readError turns a short read of a structure that should be in the file
// into ErrFormat, and passes other I/O errors on.
func readError(format Format, err error, what string, off int64) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errorf(ErrFormat, "%s: %s at %#x is cut short by the end of the file", format, what, off)
	}
	return fmt.Errorf("%s: reading %s at %#x: %w", format, what, off, err)
}
