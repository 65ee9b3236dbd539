package bootstrap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/colinux-ng/colinux/pkg/archive"
)

// The two layouts a container archive comes in: OCI (index.json →
// manifest blob → layer blobs, Fedora 40 and later) and docker-archive
// (manifest.json listing layer tarballs, earlier releases).
type ociIndex struct {
	Manifests []ociDescriptor `json:"manifests"`
}

type ociManifest struct {
	Layers []ociDescriptor `json:"layers"`
}

type ociDescriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
}

type dockerManifest []struct {
	Layers []string `json:"Layers"`
}

// extractContainer unpacks the root filesystem of the verified container
// archive at path into target, using scratch for the archive's content,
// and returns the newest modification time in the layer. Only
// single-layer images are accepted: Fedora's base image is one layer, and
// applying OCI whiteouts is not needed for it. name labels errors.
func extractContainer(ctx context.Context, path, scratch, target, name string) (time.Time, error) {
	if _, err := extractTarball(ctx, path, scratch, name); err != nil {
		return time.Time{}, err
	}
	layer, err := containerLayer(scratch, name)
	if err != nil {
		return time.Time{}, err
	}
	return extractTarball(ctx, layer, target, name+": "+filepath.Base(layer))
}

// containerLayer finds the root filesystem layer in an unpacked archive.
func containerLayer(dir, name string) (string, error) {
	bad := func(format string, a ...any) (string, error) {
		return "", fmt.Errorf("%s: %s: %w", name, fmt.Sprintf(format, a...), archive.ErrFormat)
	}
	var index ociIndex
	err := readJSON(filepath.Join(dir, "index.json"), &index)
	if errors.Is(err, fs.ErrNotExist) {
		var docker dockerManifest
		if err := readJSON(filepath.Join(dir, "manifest.json"), &docker); err != nil {
			return bad("neither an OCI layout nor a docker archive: %v", err)
		}
		if len(docker) != 1 || len(docker[0].Layers) != 1 {
			return bad("manifest.json: want one image of one layer")
		}
		return safeJoin(dir, docker[0].Layers[0], name)
	}
	if err != nil {
		return bad("%v", err)
	}
	if len(index.Manifests) != 1 {
		return bad("index.json: want one manifest, found %d", len(index.Manifests))
	}
	mpath, err := blob(dir, index.Manifests[0].Digest, name)
	if err != nil {
		return "", err
	}
	var m ociManifest
	if err := readJSON(mpath, &m); err != nil {
		return bad("manifest %s: %v", index.Manifests[0].Digest, err)
	}
	if len(m.Layers) != 1 {
		return bad("manifest: want one layer, found %d", len(m.Layers))
	}
	return blob(dir, m.Layers[0].Digest, name)
}

// blob returns the path of an OCI blob after checking that its content
// matches its digest (the archive as a whole is verified already; this
// keeps a mislabelled blob out).
func blob(dir, dgst, name string) (string, error) {
	hexSum, ok := strings.CutPrefix(dgst, "sha256:")
	if !ok || len(hexSum) != 64 || strings.Trim(hexSum, "0123456789abcdef") != "" {
		return "", fmt.Errorf("%s: unsupported blob digest %q: %w", name, dgst, archive.ErrFormat)
	}
	path := filepath.Join(dir, "blobs", "sha256", hexSum)
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s: blob %s: %w", name, dgst, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hexSum {
		return "", fmt.Errorf("%s: blob %s has SHA256 %s: %w", name, dgst, got, archive.ErrChecksum)
	}
	return path, nil
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// safeJoin resolves a path named inside the archive, refusing escapes.
func safeJoin(dir, rel, name string) (string, error) {
	clean := filepath.Clean("/" + rel)
	if clean == "/" || clean != "/"+strings.TrimPrefix(rel, "./") {
		return "", fmt.Errorf("%s: layer path %q: %w", name, rel, archive.ErrUnsafePath)
	}
	return filepath.Join(dir, clean), nil
}
