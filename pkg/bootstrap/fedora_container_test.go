package bootstrap

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/colinux-ng/colinux/pkg/archive"
)

// TestContainerLayer covers the layouts WriteFedora does not: the
// docker-archive of older releases, and what is refused.
func TestContainerLayer(t *testing.T) {
	write := func(files map[string]string) string {
		dir := t.TempDir()
		for name, body := range files {
			p := filepath.Join(dir, name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, []byte(body), 0o644)
		}
		return dir
	}
	docker := write(map[string]string{"manifest.json": `[{"Config":"c.json","Layers":["abc/layer.tar"]}]`, "abc/layer.tar": ""})
	if got, err := containerLayer(docker, "img"); err != nil || got != filepath.Join(docker, "abc/layer.tar") {
		t.Errorf("docker-archive: %q %v", got, err)
	}
	for name, tc := range map[string]struct {
		files map[string]string
		want  error
	}{
		"escape":      {map[string]string{"manifest.json": `[{"Layers":["../layer.tar"]}]`}, archive.ErrUnsafePath},
		"two layers":  {map[string]string{"manifest.json": `[{"Layers":["a","b"]}]`}, archive.ErrFormat},
		"neither":     {map[string]string{"oci-layout": "{}"}, archive.ErrFormat},
		"bad digest":  {map[string]string{"index.json": `{"manifests":[{"digest":"md5:00"}]}`}, archive.ErrFormat},
		"mislabelled": {map[string]string{"index.json": `{"manifests":[{"digest":"sha256:` + zeros + `"}]}`, "blobs/sha256/" + zeros: "x"}, archive.ErrChecksum},
	} {
		if _, err := containerLayer(write(tc.files), "img"); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		}
	}
}

const zeros = "0000000000000000000000000000000000000000000000000000000000000000"
