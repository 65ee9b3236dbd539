package release

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// input is one image to release with what is known about it.
type input struct {
	path         string
	size         int64
	name, os     string
	release      string
	arch         string
	wantSHA256   string // from the build manifest, when there is one
	manifestPath string // "" when there is none
	manifest     []byte
	packages     int
	packagesHash string
}

// buildManifest is the part of coimage build's NAME.manifest.json a
// release reads.
type buildManifest struct {
	Name         string `json:"name"`
	Distribution string `json:"distribution"`
	Release      string `json:"release"`
	Architecture string `json:"architecture"`
	Image        struct {
		Size   int64  `json:"size"`
		SHA256 string `json:"sha256"`
	} `json:"image"`
	Packages json.RawMessage `json:"packages"`
}

// ext4 superblock magic, at byte 1080 of a cobd image.
const ext4MagicOffset = 1024 + 56

// readInput checks that path is a cobd (ext4) image and collects its name,
// release, arch and package list from the manifest beside it
// (NAME.manifest.json for NAME.img), else from the file name.
func readInput(path string) (*input, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var magic [2]byte
	if _, err := f.ReadAt(magic[:], ext4MagicOffset); err != nil || magic != [2]byte{0x53, 0xEF} || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a cobd image (no ext4 superblock at byte 1024)", path)
	}
	base := strings.TrimSuffix(filepath.Base(path), ".img")
	in := &input{path: path, size: fi.Size(), name: base, arch: hostArch()}
	in.os, in.release, _ = strings.Cut(base, "-")
	mpath := strings.TrimSuffix(path, ".img") + ".manifest.json"
	data, err := os.ReadFile(mpath)
	if errors.Is(err, fs.ErrNotExist) {
		if in.release == "" {
			in.release = "unknown"
		}
		return in, nil
	}
	if err != nil {
		return nil, err
	}
	var m buildManifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", mpath, err)
	}
	if m.Image.Size != 0 && m.Image.Size != in.size {
		return nil, fmt.Errorf("%s: %d bytes, its manifest %s says %d", path, in.size, mpath, m.Image.Size)
	}
	in.manifestPath, in.manifest, in.wantSHA256 = mpath, data, m.Image.SHA256
	for _, kv := range []struct {
		dst *string
		v   string
	}{{&in.name, m.Name}, {&in.os, m.Distribution}, {&in.release, m.Release}, {&in.arch, m.Architecture}} {
		if kv.v != "" {
			*kv.dst = kv.v
		}
	}
	if len(m.Packages) > 0 {
		var list []json.RawMessage
		if err := json.Unmarshal(m.Packages, &list); err != nil {
			return nil, fmt.Errorf("%s: packages: %w", mpath, err)
		}
		var compact bytes.Buffer
		json.Compact(&compact, m.Packages)
		sum := sha256.Sum256(compact.Bytes())
		in.packages, in.packagesHash = len(list), hex.EncodeToString(sum[:])
	}
	return in, nil
}

// hostArch is the host's architecture as Debian names it, as the recipes
// and the index do. (pkg/archive has the same table but builds only on
// Linux; this package must build everywhere.)
func hostArch() string {
	switch a := runtime.GOARCH; a {
	case "386":
		return "i386"
	case "arm":
		return "armhf"
	case "ppc64le":
		return "ppc64el"
	default:
		return a
	}
}
