// Package rpmrepo reads an RPM repository's metadata (repodata/repomd.xml
// and the primary.xml it points to, as createrepo_c writes them) and
// resolves a set of package names to the packages that install them with
// all their requirements, as dnf would without weak dependencies.
//
// Nothing here is trusted: repomd.xml is not signed (Fedora's dnf relies
// on the metalink's hashes and on each package's signature). The caller
// checks primary.xml against repomd's digest and every package's own
// OpenPGP header signature (pkg/rpm) before using it, so a hostile mirror
// can at most offer older, validly signed packages.
package rpmrepo

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/colinux-ng/colinux/pkg/rpm"
)

// ErrFormat: malformed repository metadata.
var ErrFormat = errors.New("malformed repository metadata")

// Data is one metadata file listed in repomd.xml.
type Data struct {
	Location string // relative to the repository's base URL
	SHA256   string // of the file as stored (compressed)
	Size     int64  // -1 when not given
	OpenSize int64  // decompressed size; -1 when not given
}

type repomdXML struct {
	XMLName xml.Name `xml:"repomd"`
	Data    []struct {
		Type     string `xml:"type,attr"`
		Checksum struct {
			Type  string `xml:"type,attr"`
			Value string `xml:",chardata"`
		} `xml:"checksum"`
		Location struct {
			Href string `xml:"href,attr"`
		} `xml:"location"`
		Size     string `xml:"size"`
		OpenSize string `xml:"open-size"`
	} `xml:"data"`
}

// Primary finds the primary metadata in a repomd.xml; name labels errors.
func Primary(repomd []byte, name string) (Data, error) {
	var r repomdXML
	if err := xml.Unmarshal(repomd, &r); err != nil {
		return Data{}, fmt.Errorf("%s: %v: %w", name, err, ErrFormat)
	}
	for _, d := range r.Data {
		if d.Type != "primary" {
			continue
		}
		sum := strings.ToLower(strings.TrimSpace(d.Checksum.Value))
		if d.Checksum.Type != "sha256" || !isHex(sum, 64) {
			return Data{}, fmt.Errorf("%s: primary checksum %s %q: want sha256: %w", name, d.Checksum.Type, sum, ErrFormat)
		}
		loc, err := relative(d.Location.Href)
		if err != nil {
			return Data{}, fmt.Errorf("%s: primary: %w", name, err)
		}
		return Data{Location: loc, SHA256: sum, Size: size(d.Size), OpenSize: size(d.OpenSize)}, nil
	}
	return Data{}, fmt.Errorf("%s: no primary data listed: %w", name, ErrFormat)
}

func size(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

func isHex(s string, n int) bool {
	return len(s) == n && strings.Trim(s, "0123456789abcdef") == ""
}

// relative checks that a location stays inside the repository.
func relative(href string) (string, error) {
	clean := path.Clean(href)
	if href == "" || path.IsAbs(href) || clean == ".." || strings.HasPrefix(clean, "../") || strings.Contains(href, "://") {
		return "", fmt.Errorf("location %q leaves the repository: %w", href, ErrFormat)
	}
	return clean, nil
}

// Package is one package of primary.xml.
type Package struct {
	Name, Arch string
	EVR        rpm.EVR
	SHA256     string
	Size       int64
	Location   string // relative to its repository
	BuildTime  int64
	Provides   []Dep
	Requires   []Dep
	Files      []string // the files primary.xml lists (binaries, /etc)
	Repo       int      // which repository (ParsePrimary's repo argument)
}

// NEVRA names the package as rpm does.
func (p *Package) NEVRA() string { return p.Name + "-" + p.EVR.String() + "." + p.Arch }

// Dep is a provide or a requirement: a name, or name OP EVR, or (for a
// requirement) a rich dependency "(a or b)" in Name with no Flags.
type Dep struct {
	Name  string
	Flags int // rpm.Less, Greater, Equal
	EVR   rpm.EVR
}

func (d Dep) String() string {
	if d.Flags == 0 {
		return d.Name
	}
	op := map[int]string{rpm.Less: "<", rpm.Greater: ">", rpm.Equal: "=", rpm.Less | rpm.Equal: "<=", rpm.Greater | rpm.Equal: ">="}[d.Flags]
	return d.Name + " " + op + " " + d.EVR.String()
}

type packageXML struct {
	Type    string `xml:"type,attr"`
	Name    string `xml:"name"`
	Arch    string `xml:"arch"`
	Version struct {
		Epoch string `xml:"epoch,attr"`
		Ver   string `xml:"ver,attr"`
		Rel   string `xml:"rel,attr"`
	} `xml:"version"`
	Checksum struct {
		Type  string `xml:"type,attr"`
		Value string `xml:",chardata"`
	} `xml:"checksum"`
	Time struct {
		Build string `xml:"build,attr"`
	} `xml:"time"`
	Size struct {
		Package string `xml:"package,attr"`
	} `xml:"size"`
	Location struct {
		Href string `xml:"href,attr"`
	} `xml:"location"`
	Format struct {
		Provides []entryXML `xml:"provides>entry"`
		Requires []entryXML `xml:"requires>entry"`
		Files    []string   `xml:"file"`
	} `xml:"format"`
}

type entryXML struct {
	Name  string `xml:"name,attr"`
	Flags string `xml:"flags,attr"`
	Epoch string `xml:"epoch,attr"`
	Ver   string `xml:"ver,attr"`
	Rel   string `xml:"rel,attr"`
}

var senseOf = map[string]int{"": 0, "EQ": rpm.Equal, "LT": rpm.Less, "GT": rpm.Greater,
	"LE": rpm.Less | rpm.Equal, "GE": rpm.Greater | rpm.Equal}

func (e entryXML) dep() (Dep, bool) {
	f, ok := senseOf[e.Flags]
	if !ok || e.Name == "" {
		return Dep{}, false
	}
	epoch, _ := strconv.ParseInt(e.Epoch, 10, 64)
	return Dep{Name: e.Name, Flags: f, EVR: rpm.EVR{Epoch: epoch, Version: e.Ver, Release: e.Rel}}, true
}

// ParsePrimary streams a decompressed primary.xml and returns the
// packages whose architecture keep accepts (source packages never).
// repo is recorded in each package; name labels errors.
func ParsePrimary(r io.Reader, repo int, keep func(arch string) bool, name string) ([]*Package, error) {
	d := xml.NewDecoder(r)
	var out []*Package
	seenRoot := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v: %w", name, err, ErrFormat)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if se.Name.Local == "metadata" {
			seenRoot = true
			continue
		}
		if se.Name.Local != "package" {
			if err := d.Skip(); err != nil {
				return nil, fmt.Errorf("%s: %v: %w", name, err, ErrFormat)
			}
			continue
		}
		var px packageXML
		if err := d.DecodeElement(&px, &se); err != nil {
			return nil, fmt.Errorf("%s: %v: %w", name, err, ErrFormat)
		}
		if px.Arch == "src" || !keep(px.Arch) {
			continue
		}
		p, err := px.pkg(repo)
		if err != nil {
			return nil, fmt.Errorf("%s: package %q: %w", name, px.Name, err)
		}
		out = append(out, p)
	}
	if !seenRoot {
		return nil, fmt.Errorf("%s: no <metadata> element: %w", name, ErrFormat)
	}
	return out, nil
}

func (px *packageXML) pkg(repo int) (*Package, error) {
	sum := strings.ToLower(strings.TrimSpace(px.Checksum.Value))
	if px.Checksum.Type != "sha256" || !isHex(sum, 64) {
		return nil, fmt.Errorf("checksum %s %q: want sha256: %w", px.Checksum.Type, sum, ErrFormat)
	}
	loc, err := relative(px.Location.Href)
	if err != nil {
		return nil, err
	}
	if px.Name == "" || px.Version.Ver == "" || !strings.HasSuffix(loc, ".rpm") {
		return nil, fmt.Errorf("incomplete entry (version %q, location %q): %w", px.Version.Ver, loc, ErrFormat)
	}
	epoch, _ := strconv.ParseInt(px.Version.Epoch, 10, 64)
	build, _ := strconv.ParseInt(px.Time.Build, 10, 64)
	p := &Package{Name: px.Name, Arch: px.Arch, EVR: rpm.EVR{Epoch: epoch, Version: px.Version.Ver, Release: px.Version.Rel},
		SHA256: sum, Size: size(px.Size.Package), Location: loc, BuildTime: build, Files: px.Format.Files, Repo: repo}
	for _, e := range px.Format.Provides {
		if d, ok := e.dep(); ok {
			p.Provides = append(p.Provides, d)
		}
	}
	for _, e := range px.Format.Requires {
		if strings.HasPrefix(e.Name, "rpmlib(") { // rpm's own features, not packages
			continue
		}
		d, ok := e.dep()
		if !ok {
			return nil, fmt.Errorf("requirement %q flags %q: %w", e.Name, e.Flags, ErrFormat)
		}
		p.Requires = append(p.Requires, d)
	}
	return p, nil
}
