package driver

import (
	"errors"
	"fmt"
	"os"

	"github.com/colinux-ng/colinux/pkg/imagefmt"
	"github.com/colinux-ng/colinux/pkg/qemuconv"
)

// ErrImage is a cobd file the guest cannot use; the error says why.
var ErrImage = errors.New("unusable cobd image")

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
		return "", fmt.Errorf("cobd%d: %s is xz-compressed; unpack it first (xz -dk %s): %w", n, path, path, ErrImage)
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
