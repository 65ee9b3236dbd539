package imagefmt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// maxBackingDepth bounds a chain of backing files.
const maxBackingDepth = 16

// Detect reports the format of the image r by its magic numbers. Anything
// not recognised is Raw, as a raw disk has no magic of its own.
func Detect(r io.ReaderAt) (Format, error) {
	var buf [512]byte
	n, err := r.ReadAt(buf[:], 0)
	if err != nil && err != io.EOF {
		return "", err
	}
	b := buf[:n]
	switch {
	case bytes.HasPrefix(b, []byte(qcow2Magic)):
		return QCOW2, nil
	case bytes.HasPrefix(b, []byte(xzMagic)):
		return XZ, nil
	case bytes.HasPrefix(b, []byte("KDMV")), bytes.HasPrefix(b, []byte("# Disk DescriptorFile")):
		return VMDK, nil
	case bytes.HasPrefix(b, []byte("vhdxfile")):
		return VHDX, nil
	case len(b) >= 0x44 && binary.LittleEndian.Uint32(b[0x40:]) == 0xbeda107f:
		return VDI, nil
	case bytes.HasPrefix(b, []byte(vhdMagic)):
		// Dynamic and differencing VHDs keep a copy of the footer at 0.
		return VHD, nil
	}
	// A fixed VHD is a raw disk followed by a 512-byte footer, so only
	// the end tells it apart; that needs the size, which only some
	// ReaderAts can tell.
	if size, ok := sizeOf(r); ok && size >= 512 {
		var footer [len(vhdMagic)]byte
		if _, err := r.ReadAt(footer[:], size-512); err != nil && err != io.EOF {
			return "", err
		}
		if string(footer[:]) == vhdMagic {
			return VHD, nil
		}
	}
	return Raw, nil
}

const (
	xzMagic  = "\xfd7zXZ\x00"
	vhdMagic = "conectix"
)

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

// Open detects the format of the image at path and opens it. Formats that
// Detect recognises but this package cannot read fail with an error
// wrapping ErrUnsupported.
func Open(path string, opt Options) (Disk, error) {
	return openImage(path, "", opt, nil)
}

// openImage opens path as format, or as the detected format when format
// is empty. chain lists the images whose backing file this is, outermost
// first.
func openImage(path string, format Format, opt Options, chain []string) (Disk, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	d, err := openFile(f, path, format, opt, chain)
	if err != nil {
		f.Close()
		return nil, &os.PathError{Op: "open image", Path: path, Err: err}
	}
	return d, nil
}

func openFile(f *os.File, path string, format Format, opt Options, chain []string) (Disk, error) {
	if format == "" {
		var err error
		if format, err = Detect(f); err != nil {
			return nil, err
		}
	}
	switch format {
	case Raw:
		return newRaw(f, Raw)
	case XZ:
		return openXZ(f)
	case QCOW2:
		size, err := f.Seek(0, io.SeekEnd)
		if err != nil {
			return nil, err
		}
		var backing backingOpener
		if opt.AllowBacking {
			chain := append(slices.Clip(chain), filepath.Clean(path))
			backing = func(name string, format Format) (Disk, error) {
				if !filepath.IsAbs(name) {
					name = filepath.Join(filepath.Dir(path), name)
				}
				switch {
				case slices.Contains(chain, filepath.Clean(name)):
					return nil, errorf(ErrFormat, "backing chain loops back to %s", name)
				case len(chain) >= maxBackingDepth:
					return nil, errorf(ErrUnsupported, "backing chain longer than %d images", maxBackingDepth)
				}
				return openImage(name, format, opt, chain)
			}
		}
		return newQCOW2(f, size, f, backing)
	case VMDK, VHD, VHDX, VDI:
		return nil, fmt.Errorf("%s images are not supported yet; convert with qemu-img first: %w", format, ErrUnsupported)
	}
	return nil, fmt.Errorf("unknown image format %q: %w", format, ErrUnsupported)
}

// errorf returns an error wrapping sentinel, which is one of ErrFormat,
// ErrUnsupported or ErrBacking, with the message in front of it.
func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), sentinel)
}
