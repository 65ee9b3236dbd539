package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/colinux-ng/colinux/internal/atomicfile"
)

// Cache areas below Client.CacheDir; each holds files named by their SHA256
// in a sha256/ subdirectory, so equal content is stored once whatever
// mirror or suite it came from.
const (
	debsArea  = "debs"
	listsArea = "lists"
)

// cached returns the path of the file want in the cache area, downloading
// it from url when absent. A download lands in a temporary file renamed
// into place only once its size and SHA256 match; a file already in the
// cache is hashed again before use. what (a package or index name) labels
// errors. progress, if not nil, receives byte counts.
func (s *settings) cached(ctx context.Context, area, url string, want FileHash, what string, progress func(int64)) (string, error) {
	if !isSHA256(want.SHA256) {
		return "", fmt.Errorf("%s: bad SHA256 %q: %w", what, want.SHA256, ErrFormat)
	}
	dir := filepath.Join(s.CacheDir, area, "sha256")
	path := filepath.Join(dir, want.SHA256)
	ok, err := verifyCached(path, want, what)
	if err != nil || ok {
		if ok && progress != nil {
			progress(want.Size)
		}
		return path, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	f, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	defer f.Abort()
	if err := s.download(ctx, url, f, want, progress); err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if err := f.Commit(); err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return path, nil
}

// verifyCached reports whether path holds want; a file that exists but
// differs is an error, since something other than this client changed it.
func verifyCached(path string, want FileHash, what string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return false, fmt.Errorf("%s: read cached %s: %w", what, path, err)
	}
	if err := want.Check("cached file "+path, n, hex.EncodeToString(h.Sum(nil))); err != nil {
		return false, fmt.Errorf("%s: %w (remove the file to download it again)", what, err)
	}
	return true, nil
}
