package release

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"

	"github.com/colinux-ng/colinux/internal/testutil"
)

// startRegistry runs Debian's docker-registry (distribution 2.8) on a free
// port of 127.0.0.1 and returns HOST:PORT.
func startRegistry(t *testing.T) string {
	t.Helper()
	bin := testutil.RequireTool(t, "docker-registry")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
`, filepath.Join(dir, "data"), addr)), 0o644)
	cmd := exec.Command(bin, "serve", cfg)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
	}
	t.Fatalf("docker-registry did not answer on %s:\n%s", addr, logs.String())
	return ""
}

func TestOCIPushPull(t *testing.T) {
	reg := startRegistry(t)
	fx := newFixture(t)
	ref := "oci://" + reg + "/colinux/testos:v1"
	res, err := Publish(context.Background(), []string{fx.img}, Options{Key: fx.key, Push: ref, FrameSize: testFrame, Level: testLevel})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Pushed) != 1 || !strings.HasPrefix(res.Pushed[0], ref+"@sha256:") {
		t.Fatalf("pushed %q", res.Pushed)
	}
	// skopeo reads what was pushed: an OCI 1.1 artifact of our type.
	raw := testutil.Run(t, testutil.RequireTool(t, "skopeo"), "inspect", "--raw", "--tls-verify=false", "docker://"+reg+"/colinux/testos:v1")
	var m ocispec.Manifest
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("skopeo inspect --raw: %v\n%s", err, raw)
	}
	if m.ArtifactType != ArtifactType || m.Config.MediaType != ConfigMediaType || len(m.Layers) != 1 ||
		m.Layers[0].Annotations[ocispec.AnnotationTitle] != "testos-1.img.zst" || m.Layers[0].Digest.Encoded() != res.Images[0].CompressedSHA256 {
		t.Fatalf("manifest: %s", raw)
	}

	p := fx.puller(t)
	got, err := p.Pull(context.Background(), ref, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustRead(t, got.Path), mustRead(t, fx.img)) || got.Source != ref {
		t.Fatal("pulled image differs")
	}
	// Without a tag: each image is tagged NAME and NAME-SERIAL.
	res, err = Publish(context.Background(), []string{fx.img}, Options{Key: fx.key, Push: "oci://" + reg + "/colinux/all", FrameSize: testFrame, Level: testLevel,
		Out: filepath.Join(t.TempDir(), "dist")})
	if err != nil || len(res.Pushed) != 2 || res.Index == nil {
		t.Fatalf("push without tag: %+v, %v", res, err)
	}
	serialRef := "oci://" + reg + "/colinux/all:testos-1-" + itoa(res.Images[0].Serial)
	if _, err := p.Pull(context.Background(), serialRef, filepath.Join(t.TempDir(), "x.img"), false); err != nil {
		t.Fatal(err)
	}

	// Trust matters here too.
	_, other, _ := testKey(t)
	p2 := fx.puller(t)
	p2.Keys = []Key{other}
	pullFails(t, p2, ref, ErrSignature, ref)
}

// A registry that answers with a manifest of another artifact type.
func TestOCIWrongArtifactType(t *testing.T) {
	reg := startRegistry(t)
	fx := newFixture(t)
	repo, _, err := repository("oci://"+reg+"/colinux/testos", false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	layer := content.NewDescriptorFromBytes("application/vnd.example.layer", []byte("not an image"))
	if err := repo.Push(ctx, layer, bytes.NewReader([]byte("not an image"))); err != nil {
		t.Fatal(err)
	}
	desc, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/vnd.example.other", oras.PackManifestOptions{
		Layers: []ocispec.Descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Tag(ctx, desc, "other"); err != nil {
		t.Fatal(err)
	}
	pullFails(t, fx.puller(t), "oci://"+reg+"/colinux/testos:other", ErrFormat, `artifact type "application/vnd.example.other"`)
	pullFails(t, fx.puller(t), "oci://"+reg+"/colinux/testos:missing", nil, "missing")
}
