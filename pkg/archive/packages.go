package archive

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/ulikunitz/xz"
)

// Package is one binary package entry of a Packages index. The relationship
// fields keep their text; ParseRelations reads them.
type Package struct {
	Name         string
	Version      string
	Architecture string
	Depends      string
	PreDepends   string
	Provides     string
	Essential    bool
	Priority     string
	Filename     string // relative to the mirror root
	Size         int64
	SHA256       string
	MultiArch    string

	version  Version    // Version, parsed
	provides []Relation // Provides, parsed
}

// Hash is what the .deb must match.
func (p *Package) Hash() FileHash { return FileHash{Size: p.Size, SHA256: p.SHA256} }

func (p *Package) String() string { return p.Name + " " + p.Version }

// ParsePackages reads a Packages file; name labels errors.
func ParsePackages(r io.Reader, name string) ([]*Package, error) {
	var out []*Package
	err := scanParagraphs(r, name, packageFields, func(para Paragraph, line int) error {
		p, err := packageFrom(para)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

// packageFields are the fields packageFrom reads, in lower case.
var packageFields = map[string]bool{
	"package": true, "version": true, "architecture": true, "depends": true, "pre-depends": true,
	"provides": true, "essential": true, "priority": true, "filename": true, "size": true,
	"sha256": true, "multi-arch": true,
}

func packageFrom(f Paragraph) (*Package, error) {
	p := &Package{
		Name:         f.Get("Package"),
		Version:      f.Get("Version"),
		Architecture: f.Get("Architecture"),
		Depends:      f.Get("Depends"),
		PreDepends:   f.Get("Pre-Depends"),
		Provides:     f.Get("Provides"),
		Essential:    strings.EqualFold(f.Get("Essential"), "yes"),
		Priority:     f.Get("Priority"),
		Filename:     f.Get("Filename"),
		SHA256:       f.Get("SHA256"),
		MultiArch:    f.Get("Multi-Arch"),
	}
	if p.Name == "" {
		return nil, fmt.Errorf("entry without Package field: %w", ErrFormat)
	}
	bad := func(why string, args ...any) (*Package, error) {
		return nil, fmt.Errorf("package %s: %s: %w", p.Name, fmt.Sprintf(why, args...), ErrFormat)
	}
	var err error
	if p.version, err = ParseVersion(p.Version); err != nil {
		return bad("%v", err)
	}
	if p.Architecture == "" {
		return bad("no Architecture")
	}
	if p.Size, err = strconv.ParseInt(f.Get("Size"), 10, 64); err != nil || p.Size < 0 {
		return bad("bad Size %q", f.Get("Size"))
	}
	if !isSHA256(p.SHA256) {
		return bad("bad SHA256 %q", p.SHA256)
	}
	// Filename is appended to the mirror URL: keep it inside the mirror.
	if p.Filename == "" || path.IsAbs(p.Filename) || path.Clean(p.Filename) != p.Filename ||
		strings.HasPrefix(p.Filename, "../") || strings.ContainsAny(p.Filename, "?#\\") {
		return bad("bad Filename %q", p.Filename)
	}
	if p.provides, err = parseProvides(p.Provides); err != nil {
		return bad("Provides: %v", err)
	}
	return p, nil
}

// packages loads component's Packages.xz for the client's architecture,
// verified against the Release, through the index cache.
func (s *settings) packages(ctx context.Context, rel *Release, component string) ([]*Package, error) {
	dir := component + "/binary-" + s.Arch + "/"
	name := dir + "Packages.xz"
	want, ok := rel.Files[name]
	if !ok {
		return nil, fmt.Errorf("%s: Release lists no %s", s.distURL("InRelease"), name)
	}
	url := s.distURL(name)
	if rel.AcquireByHash {
		url = s.distURL(dir + "by-hash/SHA256/" + want.SHA256)
	}
	file, err := s.cached(ctx, listsArea, url, want, name, nil)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	xr, err := xz.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %w", name, file, err)
	}
	// Decompressing and parsing takes seconds: let cancellation stop it.
	return ParsePackages(ctxReader{ctx, xr}, s.distURL(name))
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Index fetches the verified Release and the Packages indices of every
// component, and returns them as one Index.
func (c *Client) Index(ctx context.Context) (*Index, error) {
	s, err := c.settings()
	if err != nil {
		return nil, err
	}
	rel, err := s.release(ctx)
	if err != nil {
		return nil, err
	}
	var all []*Package
	for _, comp := range s.Components {
		pkgs, err := s.packages(ctx, rel, comp)
		if err != nil {
			return nil, err
		}
		all = append(all, pkgs...)
	}
	return NewIndex(s.Arch, all), nil
}
