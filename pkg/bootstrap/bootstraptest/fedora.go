package bootstraptest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/colinux-ng/colinux/pkg/pgpverify/pgptest"
)

// Fedora is a Fedora-like release tree written by WriteFedora; paths are
// relative to its directory (the mirror's base).
type Fedora struct {
	Release, Images, Checksum, Image string
	// Listed is the CHECKSUM's signed text, for re-signing in tests.
	Listed string
}

// WriteFedora writes releases/<release>/Container/x86_64/images/ below
// dir: a Container Base OCI archive (index.json → manifest → one tar+gzip
// layer holding root) and its CHECKSUM, clearsigned with key. The
// CHECKSUM also lists a Minimal image, as Fedora's does, which the source
// must not pick.
func WriteFedora(t testing.TB, dir string, key *pgptest.Key, release string, root []Entry) Fedora {
	t.Helper()
	f := Fedora{Release: release, Images: "releases/" + release + "/Container/x86_64/images/"}
	f.Image = fmt.Sprintf("Fedora-Container-Base-Generic-%s-1.1.x86_64.oci.tar.xz", release)
	f.Checksum = fmt.Sprintf("Fedora-Container-%s-1.1-x86_64-CHECKSUM", release)

	layer := Gzip(t, Tar(t, root))
	config := jsonBlob(t, map[string]any{"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{}}})
	manifest := jsonBlob(t, map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": descriptor("application/vnd.oci.image.config.v1+json", config),
		"layers": []any{descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layer)}})
	index := jsonBlob(t, map[string]any{"schemaVersion": 2,
		"manifests": []any{descriptor("application/vnd.oci.image.manifest.v1+json", manifest)}})
	outer := []Entry{
		{Name: "oci-layout", Body: `{"imageLayoutVersion":"1.0.0"}`, Mode: 0o644},
		{Name: "index.json", Body: string(index), Mode: 0o644},
		{Name: "blobs/", Mode: 0o755}, {Name: "blobs/sha256/", Mode: 0o755},
	}
	for _, b := range [][]byte{config, manifest, layer} {
		outer = append(outer, Entry{Name: "blobs/sha256/" + sha(b), Body: string(b), Mode: 0o644})
	}
	image := XZ(t, Tar(t, outer))
	write(t, dir, f.Images+f.Image, image)

	minimal := fmt.Sprintf("Fedora-Container-Minimal-Base-Generic-%s-1.1.x86_64.oci.tar.xz", release)
	f.Listed = fmt.Sprintf("# %s: %d bytes\nSHA256 (%s) = %s\n# %s: 4 bytes\nSHA256 (%s) = %s\n",
		f.Image, len(image), f.Image, sha(image), minimal, minimal, sha([]byte("none")))
	write(t, dir, f.Images+f.Checksum, key.Clearsign(t, f.Listed))
	return f
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func descriptor(mediaType string, blob []byte) map[string]any {
	return map[string]any{"mediaType": mediaType, "digest": "sha256:" + sha(blob), "size": len(blob)}
}

func jsonBlob(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	return b
}
