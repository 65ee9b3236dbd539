package release

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/retry"

	"github.com/colinux-ng/colinux/pkg/fetch"
)

// An image in a registry is an OCI 1.1 artifact: the manifest's config is
// a one-image index.json (the same schema and checks as a static release),
// its one layer the compressed image with a title annotation, and the
// minisign signature of the config is a second artifact whose subject is
// the first (found through the Referrers API, or the referrers tag schema
// on registries without it).
const (
	ArtifactType          = "application/vnd.colinux.image.v1"
	ConfigMediaType       = "application/vnd.colinux.index.v1+json"
	LayerMediaType        = "application/vnd.colinux.cobd.v1+zstd"
	SignatureArtifactType = "application/vnd.colinux.signature.v1"
	SignatureMediaType    = "application/vnd.colinux.minisign.v1"

	ociScheme        = "oci://"
	maxManifestBytes = 4 << 20
	maxSignatures    = 16
)

// repository opens oci://HOST[:PORT]/REPO[:TAG|@DIGEST] and returns the tag
// or digest ("" when none was given). Loopback registries are spoken to
// over plain HTTP, as docker and oras do; plainHTTP forces it for others.
// Credentials come from the Docker configuration when it has any.
func repository(ref string, plainHTTP bool) (*remote.Repository, string, error) {
	rest, ok := strings.CutPrefix(ref, ociScheme)
	if !ok {
		return nil, "", fmt.Errorf("%q: a registry reference starts with %s", ref, ociScheme)
	}
	r, err := registry.ParseReference(rest)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", ref, err)
	}
	repo := &remote.Repository{Reference: r, PlainHTTP: plainHTTP || isLoopback(r.Host())}
	client := &auth.Client{Client: retry.DefaultClient, Cache: auth.NewCache()}
	if store, err := credentials.NewStoreFromDocker(credentials.StoreOptions{}); err == nil {
		client.Credential = credentials.Credential(store)
	}
	repo.Client = client
	return repo, r.Reference, nil
}

func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// pushAll pushes each released image: to the given tag (one image only),
// else tagged NAME and NAME-SERIAL.
func pushAll(ctx context.Context, opt Options, images []Image, stage string) ([]string, error) {
	repo, tag, err := repository(opt.Push, opt.PlainHTTP)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(tag, "sha256:") {
		return nil, fmt.Errorf("--push %s: give a tag, not a digest", opt.Push)
	}
	if tag != "" && len(images) > 1 {
		return nil, fmt.Errorf("--push %s: a tag names one image; leave it out to tag each image NAME and NAME-SERIAL", opt.Push)
	}
	var refs []string
	for _, im := range images {
		tags := []string{tag}
		if tag == "" {
			tags = []string{im.Name, im.Name + "-" + strconv.FormatInt(im.Serial, 10)}
		}
		blob := filepath.Join(stage, filepath.FromSlash(im.Path))
		desc, err := pushImage(ctx, repo, im, blob, opt)
		if err != nil {
			return nil, fmt.Errorf("push %s to %s: %w", im.Ref(), opt.Push, err)
		}
		for _, t := range tags {
			if err := repo.Tag(ctx, desc, t); err != nil {
				return nil, fmt.Errorf("tag %s: %w", t, err)
			}
			refs = append(refs, ociScheme+repo.Reference.Registry+"/"+repo.Reference.Repository+":"+t+"@"+desc.Digest.String())
		}
	}
	return refs, nil
}

// pushImage pushes the layer, the config, the manifest and the signature
// artifact of one image and returns the manifest's descriptor.
func pushImage(ctx context.Context, repo *remote.Repository, im Image, blob string, opt Options) (ocispec.Descriptor, error) {
	im.Path, im.Manifest = path.Base(im.Path), nil
	doc := &Index{Schema: SchemaVersion, Generated: opt.Now, Expires: opt.Now.Add(opt.ValidFor), Images: []Image{im}}
	config := doc.Marshal()
	sig := Sign(opt.Key, config, "config.json")

	layer := ocispec.Descriptor{
		MediaType:   LayerMediaType,
		Digest:      digest.NewDigestFromEncoded(digest.SHA256, im.CompressedSHA256),
		Size:        im.CompressedSize,
		Annotations: map[string]string{ocispec.AnnotationTitle: im.Path},
	}
	if err := pushBlob(ctx, repo, layer, func() (io.ReadCloser, error) { return os.Open(blob) }); err != nil {
		return ocispec.Descriptor{}, err
	}
	configDesc := content.NewDescriptorFromBytes(ConfigMediaType, config)
	if err := pushBlob(ctx, repo, configDesc, bytesOpener(config)); err != nil {
		return ocispec.Descriptor{}, err
	}
	created := map[string]string{ocispec.AnnotationCreated: opt.Now.Format("2006-01-02T15:04:05Z")}
	desc, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, ArtifactType, oras.PackManifestOptions{
		Layers: []ocispec.Descriptor{layer}, ConfigDescriptor: &configDesc, ManifestAnnotations: created,
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	sigDesc := content.NewDescriptorFromBytes(SignatureMediaType, sig)
	if err := pushBlob(ctx, repo, sigDesc, bytesOpener(sig)); err != nil {
		return ocispec.Descriptor{}, err
	}
	_, err = oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, SignatureArtifactType, oras.PackManifestOptions{
		Subject: &desc, Layers: []ocispec.Descriptor{sigDesc}, ManifestAnnotations: created,
	})
	return desc, err
}

func bytesOpener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

func pushBlob(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, open func() (io.ReadCloser, error)) error {
	if ok, err := repo.Exists(ctx, desc); err != nil || ok {
		return err
	}
	r, err := open()
	if err != nil {
		return err
	}
	defer r.Close()
	if err := repo.Push(ctx, desc, r); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return err
	}
	return nil
}

// artifactKind is what a manifest must be to be read as one.
type artifactKind struct {
	artifactType, configType, layerType string
	maxLayer                            int64
}

var (
	imageArtifact     = artifactKind{ArtifactType, ConfigMediaType, LayerMediaType, maxImageSize}
	signatureArtifact = artifactKind{SignatureArtifactType, ocispec.MediaTypeEmptyJSON, SignatureMediaType, maxSigBytes}
)

// parseManifest decodes an OCI image manifest from a registry and checks
// that it is an artifact of kind with one layer. what names it in errors.
func parseManifest(data []byte, kind artifactKind, what string) (*ocispec.Manifest, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: manifest: %v: %w", what, err, ErrFormat)
	}
	bad := func(format string, a ...any) (*ocispec.Manifest, error) {
		return nil, fmt.Errorf("%s: %s: %w", what, fmt.Sprintf(format, a...), ErrFormat)
	}
	switch {
	case m.SchemaVersion != 2 || m.MediaType != ocispec.MediaTypeImageManifest:
		return bad("not an OCI image manifest (media type %q)", m.MediaType)
	case m.ArtifactType != kind.artifactType:
		return bad("artifact type %q, not %q", m.ArtifactType, kind.artifactType)
	case m.Config.MediaType != kind.configType:
		return bad("config media type %q, not %q", m.Config.MediaType, kind.configType)
	case len(m.Layers) != 1:
		return bad("%d layers, not 1", len(m.Layers))
	case m.Layers[0].MediaType != kind.layerType:
		return bad("layer media type %q, not %q", m.Layers[0].MediaType, kind.layerType)
	}
	for _, d := range []struct {
		name string
		desc ocispec.Descriptor
		max  int64
	}{{"config", m.Config, maxIndexBytes}, {"layer", m.Layers[0], kind.maxLayer}} {
		// Validate first: Algorithm panics on a digest without a colon.
		if d.desc.Digest.Validate() != nil || d.desc.Digest.Algorithm() != digest.SHA256 {
			return bad("%s digest %q is not a valid sha256 digest", d.name, d.desc.Digest)
		}
		if d.desc.Size < 0 || d.desc.Size > d.max {
			return bad("%s of %d bytes (at most %d)", d.name, d.desc.Size, d.max)
		}
	}
	return &m, nil
}

// fetchVerified reads a blob or manifest of at most limit bytes by its
// descriptor; oras checks the digest.
func fetchVerified(ctx context.Context, f content.Fetcher, desc ocispec.Descriptor, limit int64, what string) ([]byte, error) {
	if desc.Size > limit {
		return nil, fmt.Errorf("%s: %d bytes, at most %d: %w", what, desc.Size, limit, ErrFormat)
	}
	data, err := content.FetchAll(ctx, f, desc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return data, nil
}

// ociImage resolves an image artifact and checks its signature; it returns
// the verified one-image index and the layer's source.
func (p *Puller) ociImage(ctx context.Context, ref string) (*Image, fetch.Source, error) {
	repo, tag, err := repository(ref, p.PlainHTTP)
	if err != nil {
		return nil, nil, err
	}
	if tag == "" {
		tag = "latest"
	}
	desc, err := repo.Resolve(ctx, tag)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", ref, err)
	}
	if desc.MediaType != ocispec.MediaTypeImageManifest {
		return nil, nil, fmt.Errorf("%s: a %q, not an OCI image manifest: %w", ref, desc.MediaType, ErrFormat)
	}
	data, err := fetchVerified(ctx, repo, desc, maxManifestBytes, ref)
	if err != nil {
		return nil, nil, err
	}
	m, err := parseManifest(data, imageArtifact, ref)
	if err != nil {
		return nil, nil, err
	}
	config, err := fetchVerified(ctx, repo.Blobs(), m.Config, maxIndexBytes, ref+" config")
	if err != nil {
		return nil, nil, err
	}
	if err := p.ociSignature(ctx, repo, desc, config, ref); err != nil {
		return nil, nil, err
	}
	ix, err := ParseIndex(config, ref+" config")
	if err != nil {
		return nil, nil, err
	}
	if err := ix.CheckExpiry(ref, p.now()); err != nil {
		return nil, nil, err
	}
	if len(ix.Images) != 1 {
		return nil, nil, fmt.Errorf("%s: config lists %d images, not 1: %w", ref, len(ix.Images), ErrFormat)
	}
	im := &ix.Images[0]
	layer := m.Layers[0]
	if layer.Digest.Encoded() != im.CompressedSHA256 || layer.Size != im.CompressedSize {
		return nil, nil, fmt.Errorf("%s: layer %s (%d bytes) is not the signed image %s (%d bytes): %w",
			ref, layer.Digest, layer.Size, im.CompressedSHA256, im.CompressedSize, ErrChecksum)
	}
	return im, &ociBlob{repo: repo, desc: layer, ref: ref}, nil
}

// ociSignature finds a signature artifact referring to desc that a trusted
// key made over config.
func (p *Puller) ociSignature(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, config []byte, ref string) error {
	var sigs []ocispec.Descriptor
	err := repo.Referrers(ctx, desc, SignatureArtifactType, func(r []ocispec.Descriptor) error {
		sigs = append(sigs, r...)
		if len(sigs) > maxSignatures {
			return fmt.Errorf("more than %d signatures: %w", maxSignatures, ErrFormat)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: signatures: %w", ref, err)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%s: no signature attached: %w", ref, ErrSignature)
	}
	var last error
	for _, s := range sigs {
		data, err := fetchVerified(ctx, repo, s, maxManifestBytes, ref+" signature")
		if err != nil {
			return err
		}
		m, err := parseManifest(data, signatureArtifact, ref+" signature")
		if err != nil {
			return err
		}
		sig, err := fetchVerified(ctx, repo.Blobs(), m.Layers[0], maxSigBytes, ref+" signature")
		if err != nil {
			return err
		}
		if last = Verify(p.Keys, config, sig, ref); last == nil {
			return nil
		}
	}
	return last
}

// ociBlob is a registry layer as a download source; a registry that
// serves byte ranges lets an interrupted pull resume.
type ociBlob struct {
	repo *remote.Repository
	desc ocispec.Descriptor
	ref  string
}

func (b *ociBlob) String() string { return b.ref + "@" + b.desc.Digest.String() }

func (b *ociBlob) Open(ctx context.Context, offset int64) (io.ReadCloser, error) {
	rc, err := b.repo.Blobs().Fetch(ctx, b.desc)
	if err != nil {
		if errors.Is(err, errdef.ErrNotFound) {
			return nil, fetch.Permanent(fmt.Errorf("%s: %w", b, err))
		}
		return nil, fmt.Errorf("%s: %w", b, err)
	}
	if offset == 0 {
		return rc, nil
	}
	if s, ok := rc.(io.Seeker); ok {
		if _, err := s.Seek(offset, io.SeekStart); err == nil {
			return rc, nil
		}
	}
	rc.Close()
	return nil, fetch.ErrRangeIgnored
}
