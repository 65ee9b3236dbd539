package bootstrap

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/colinux-ng/colinux/internal/atomicfile"
	"github.com/colinux-ng/colinux/pkg/archive"
)

// indexArea holds decompressed Packages files below the cache directory,
// named by the SHA256 the signed Release gives for the uncompressed file.
const indexArea = "indices/sha256"

// loadIndex returns the package index of c's suite like c.Index, but keeps
// each Packages file decompressed in the cache: a warm build then only
// hashes and parses it instead of decoding Packages.xz again, the largest
// cost of a warm build. Trust is the same: the decompressed file must match
// the Release's SHA256 for it, checked before every use. Where the Release
// lists no uncompressed hash, c.Index does the work.
func loadIndex(ctx context.Context, c *archive.Client, rel *archive.Release) (*archive.Index, error) {
	var all []*archive.Package
	for _, comp := range c.Components {
		plain := comp + "/binary-" + c.Arch + "/Packages"
		want, ok := rel.Files[plain]
		compressed, okXZ := rel.Files[plain+".xz"]
		if !ok || !okXZ {
			return c.Index(ctx)
		}
		pkgs, err := cachedIndex(ctx, c, rel, plain, want, compressed)
		if err != nil {
			return nil, err
		}
		all = append(all, pkgs...)
	}
	return archive.NewIndex(c.Arch, all), ctx.Err()
}

// cachedIndex returns the packages of the verified decompressed Packages
// file plain, fetching and decompressing the verified Packages.xz when it
// is missing. Parsing runs beside the decompression, which the host's xz
// does in another process: the stream is trusted, as the .xz was checked
// against the signed Release, and the whole file is checked again before
// it is cached.
func cachedIndex(ctx context.Context, c *archive.Client, rel *archive.Release, plain string, want, compressed archive.FileHash) ([]*archive.Package, error) {
	name := c.Mirror + "/dists/" + c.Suite + "/" + plain
	path := filepath.Join(c.CacheDir, indexArea, want.SHA256)
	if data, err := os.ReadFile(path); err == nil && matches(data, want) {
		return archive.ParsePackages(bytes.NewReader(data), name)
	}
	file := "dists/" + c.Suite + "/" + plain + ".xz"
	if rel.AcquireByHash {
		file = "dists/" + c.Suite + "/" + filepath.Dir(plain) + "/by-hash/SHA256/" + compressed.SHA256
	}
	// Fetch downloads into the archive's content-addressed cache and
	// checks size and SHA256 against the signed Release.
	paths, err := c.Fetch(ctx, []*archive.Package{{Name: plain + ".xz", Filename: file, Size: compressed.Size, SHA256: compressed.SHA256}})
	if err != nil {
		return nil, err
	}
	f, err := os.Open(paths[0])
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var data bytes.Buffer
	data.Grow(int(want.Size))
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(unxzTo(ctx, io.MultiWriter(&data, pw), f))
	}()
	pkgs, err := archive.ParsePackages(pr, name)
	pr.CloseWithError(errors.New("parsing stopped")) // lets the decompression end early on a parse error
	if err != nil {
		return nil, fmt.Errorf("%s: %w", plain+".xz", err)
	}
	if !matches(data.Bytes(), want) {
		return nil, fmt.Errorf("%s: decompressed file does not match the Release: %w", plain, archive.ErrChecksum)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	out, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return nil, err
	}
	defer out.Abort()
	if _, err := out.Write(data.Bytes()); err != nil {
		return nil, err
	}
	return pkgs, out.Commit()
}

func matches(data []byte, want archive.FileHash) bool {
	sum := sha256.Sum256(data)
	return int64(len(data)) == want.Size && hex.EncodeToString(sum[:]) == want.SHA256
}
