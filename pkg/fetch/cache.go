package fetch

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Cache keeps verified downloads named by their SHA256 below Dir/sha256/,
// so equal content is stored once whatever URL it came from.
type Cache struct {
	Dir    string
	Client *Client
}

// Path is where the file with SHA256 sum lives (or will).
func (c *Cache) Path(sum string) string { return filepath.Join(c.Dir, "sha256", sum) }

// Get returns the path of the file want, downloading it from src when the
// cache lacks it (resuming a .part an earlier run left). A cached file is
// hashed again before use.
func (c *Cache) Get(ctx context.Context, src Source, want Digest) (string, error) {
	if !IsSHA256(want.SHA256) {
		return "", fmt.Errorf("%s: bad SHA256 %q", src, want.SHA256)
	}
	path := c.Path(want.SHA256)
	ok, err := VerifyFile(path, want)
	if err != nil || ok {
		if ok && c.Client.Progress != nil {
			c.Client.Progress(want.Size)
		}
		return path, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	if err := c.Client.Download(ctx, src, path, want, nil); err != nil {
		return "", err
	}
	return path, nil
}

// VerifyFile reports whether path holds want. A file that exists but
// differs is an error naming it, since something other than this package
// changed it.
func VerifyFile(path string, want Digest) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return false, fmt.Errorf("read cached %s: %w", path, err)
	}
	if err := Verify("cached file "+path, n, h.Sum(nil), want); err != nil {
		return false, fmt.Errorf("%w (remove the file to download it again)", err)
	}
	return true, nil
}
