package bootstrap

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/colinux-ng/colinux/pkg/archive"
)

// Compression magic numbers: base images come as .tar.xz (stage3,
// Fedora's container archive), .tar.gz or .tar.zst (OCI layers) or plain.
var (
	xzMagic   = []byte{0xfd, '7', 'z', 'X', 'Z', 0}
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// decompressed sniffs r's compression and returns the plain stream.
func decompressed(ctx context.Context, r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	head, _ := br.Peek(len(xzMagic))
	switch {
	case bytes.HasPrefix(head, xzMagic):
		return xzReader(ctx, br)
	case bytes.HasPrefix(head, gzipMagic):
		return gzip.NewReader(br)
	case bytes.HasPrefix(head, zstdMagic):
		z, err := zstd.NewReader(br)
		if err != nil {
			return nil, err
		}
		return z.IOReadCloser(), nil
	}
	return io.NopCloser(br), nil
}

// extractTarball unpacks the (compressed) tar file path into target with
// ownership, modes and extended attributes, and returns the newest
// modification time inside: a stable SOURCE_DATE_EPOCH for what follows.
// name (the file's URL) labels errors.
func extractTarball(ctx context.Context, path, target, name string) (time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, err
	}
	defer f.Close()
	return extractStream(ctx, f, target, name)
}

// extractStream is extractTarball over an open stream.
func extractStream(ctx context.Context, r io.Reader, target, name string) (time.Time, error) {
	plain, err := decompressed(ctx, r)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", name, err)
	}
	entries, err := archive.ExtractTar(ctx, tar.NewReader(plain), target, name, unpackOptions)
	if cerr := plain.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%s: %w", name, cerr)
	}
	if err != nil {
		return time.Time{}, err
	}
	var newest time.Time
	for _, e := range entries {
		if e.Header.ModTime.After(newest) {
			newest = e.Header.ModTime
		}
	}
	return newest, nil
}

// unpackOptions unpack packages and base tarballs without their device
// nodes: an image's /dev is the fixed set rootfs.Pack writes, in root and
// rootless builds alike, and root of a user namespace may not mknod.
var unpackOptions = archive.ExtractOptions{NoDevices: true}
