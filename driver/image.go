package driver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/pkg/imagefmt"
	"github.com/colinux-ng/colinux/pkg/qemuconv"
)

// ErrImage is a cobd file the guest cannot use; the error says why.
// ErrCompressed, a compressed image, is one of them.
var (
	ErrImage      = errors.New("unusable cobd image")
	ErrCompressed = fmt.Errorf("compressed image: %w", ErrImage)
)

// CheckImage makes sure path is a bare filesystem image, as cobd wants:
// not missing, not compressed, not a whole-disk or QEMU image (which
// coimage convert turns into one). It returns the filesystem type.
func CheckImage(path string, n int) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cobd%d: %w", n, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("cobd%d: %w", n, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("cobd%d: %s is not a regular file: %w", n, path, ErrImage)
	}
	format, err := imagefmt.Detect(f)
	if err != nil {
		return "", fmt.Errorf("cobd%d: %s: %w", n, path, err)
	}
	switch format {
	case imagefmt.Raw:
	case imagefmt.XZ:
		return "", fmt.Errorf("cobd%d: %s is xz-compressed; unpack it first (xz -dk %s): %w", n, path, path, ErrCompressed)
	default:
		return "", fmt.Errorf("cobd%d: %s is a %s disk image; make a filesystem image with `coimage convert %s root.img`: %w",
			n, path, format, path, ErrImage)
	}
	fs := qemuconv.DetectFS(f, 0, fi.Size())
	if fs.Type == "" {
		return "", fmt.Errorf("cobd%d: %s holds no filesystem corun knows (ext2/3/4, xfs, btrfs, swap); a whole disk needs `coimage convert`: %w", n, path, ErrImage)
	}
	return fs.Type, nil
}

// checkDisks makes the cobd paths absolute and checks the images: cobd0
// must hold a filesystem; other disks (swap, raw data) need only exist
// and not be compressed.
func checkDisks(cfg *config.Config) error {
	for i, d := range cfg.Disks {
		abs, err := filepath.Abs(d.Path)
		if err != nil {
			return err
		}
		cfg.Disks[i].Path = abs
		if _, err := CheckImage(abs, d.Index); err != nil {
			if d.Index == 0 || !errors.Is(err, ErrImage) || errors.Is(err, ErrCompressed) {
				return err
			}
		}
	}
	return nil
}

// checkShares makes the cofs paths absolute and checks they are directories.
func checkShares(cfg *config.Config) error {
	for i, s := range cfg.Shares {
		abs, err := filepath.Abs(s.Path)
		if err != nil {
			return err
		}
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			return fmt.Errorf("cofs%d: %s is not a directory", s.Index, s.Path)
		}
		cfg.Shares[i].Path = abs
	}
	return nil
}
