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
	Recommends []Dep    // not installed; they break ties between providers
	Conflicts  []Dep    // against other packages' provides
	Obsoletes  []Dep    // against other packages' names
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

// packageXML is what ParsePrimary collects of one <package>.
type packageXML struct {
	Name, Arch, Epoch, Ver, Rel string
	ChecksumType, Checksum      string
	Build, Size, Href           string
	Provides, Requires          []entryXML
	Recommends                  []entryXML
	Conflicts, Obsoletes        []entryXML
	Files                       []string
}

type entryXML struct {
	Name, Flags, Epoch, Ver, Rel string
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
//
// It reads raw tokens and keeps only what resolving and fetching need:
// Fedora's Everything primary.xml is a few hundred MB, and decoding each
// <package> element by reflection took several times as long.
func ParsePrimary(r io.Reader, repo int, keep func(arch string) bool, name string) ([]*Package, error) {
	d := xml.NewDecoder(r)
	var (
		out      []*Package
		px       *packageXML
		seenRoot bool
		depth    int     // below <package>
		section  string  // a dependency list inside <format>: see depSections
		capture  *string // where character data goes
		text     []byte
	)
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%s: line %d: %s: %w", name, lineOf(d), fmt.Sprintf(format, a...), ErrFormat)
	}
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v: %w", name, err, ErrFormat)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			el := t.Name.Local
			if px == nil {
				switch el {
				case "metadata":
					seenRoot = true
				case "package":
					px, depth = &packageXML{}, 0
				}
				continue
			}
			depth++
			switch {
			case el == "package":
				return nil, bad("<package> inside <package>")
			case depth == 1 && el == "name":
				capture = &px.Name
			case depth == 1 && el == "arch":
				capture = &px.Arch
			case depth == 1 && el == "checksum":
				px.ChecksumType, capture = attr(t, "type"), &px.Checksum
			case depth == 1 && el == "version":
				px.Epoch, px.Ver, px.Rel = attr(t, "epoch"), attr(t, "ver"), attr(t, "rel")
			case depth == 1 && el == "time":
				px.Build = attr(t, "build")
			case depth == 1 && el == "size":
				px.Size = attr(t, "package")
			case depth == 1 && el == "location":
				px.Href = attr(t, "href")
			case depth == 2 && depSections[el]:
				section = el
			case depth == 3 && el == "entry" && section != "":
				e := entryXML{attr(t, "name"), attr(t, "flags"), attr(t, "epoch"), attr(t, "ver"), attr(t, "rel")}
				switch section {
				case "provides":
					px.Provides = append(px.Provides, e)
				case "requires":
					px.Requires = append(px.Requires, e)
				case "recommends":
					px.Recommends = append(px.Recommends, e)
				case "conflicts":
					px.Conflicts = append(px.Conflicts, e)
				case "obsoletes":
					px.Obsoletes = append(px.Obsoletes, e)
				}
			case depth == 2 && el == "file":
				px.Files = append(px.Files, "")
				capture = &px.Files[len(px.Files)-1]
			}
			text = text[:0]
		case xml.CharData:
			if capture != nil {
				text = append(text, t...)
			}
		case xml.EndElement:
			if px == nil {
				continue
			}
			if capture != nil {
				*capture, capture = strings.TrimSpace(string(text)), nil
			}
			if depth == 2 && depSections[t.Name.Local] {
				section = ""
			}
			if depth > 0 {
				depth--
				continue
			}
			if px.Arch != "src" && keep(px.Arch) {
				p, err := px.pkg(repo)
				if err != nil {
					return nil, fmt.Errorf("%s: package %q: %w", name, px.Name, err)
				}
				out = append(out, p)
			}
			px = nil
		}
	}
	if !seenRoot || px != nil {
		return nil, fmt.Errorf("%s: no complete <metadata> element: %w", name, ErrFormat)
	}
	return out, nil
}

// depSections are the dependency lists of <format> ParsePrimary keeps.
var depSections = map[string]bool{"provides": true, "requires": true, "recommends": true, "conflicts": true, "obsoletes": true}

// attr is the value of a start element's attribute, "" when absent.
func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func lineOf(d *xml.Decoder) int {
	line, _ := d.InputPos()
	return line
}

func (px *packageXML) pkg(repo int) (*Package, error) {
	sum := strings.ToLower(px.Checksum)
	if px.ChecksumType != "sha256" || !isHex(sum, 64) {
		return nil, fmt.Errorf("checksum %s %q: want sha256: %w", px.ChecksumType, sum, ErrFormat)
	}
	loc, err := relative(px.Href)
	if err != nil {
		return nil, err
	}
	if px.Name == "" || px.Ver == "" || !strings.HasSuffix(loc, ".rpm") {
		return nil, fmt.Errorf("incomplete entry (version %q, location %q): %w", px.Ver, loc, ErrFormat)
	}
	epoch, _ := strconv.ParseInt(px.Epoch, 10, 64)
	build, _ := strconv.ParseInt(px.Build, 10, 64)
	p := &Package{Name: px.Name, Arch: px.Arch, EVR: rpm.EVR{Epoch: epoch, Version: px.Ver, Release: px.Rel},
		SHA256: sum, Size: size(px.Size), Location: loc, BuildTime: build, Files: px.Files, Repo: repo}
	for _, e := range px.Provides {
		if d, ok := e.dep(); ok {
			p.Provides = append(p.Provides, d)
		}
	}
	for _, e := range px.Requires {
		if strings.HasPrefix(e.Name, "rpmlib(") { // rpm's own features, not packages
			continue
		}
		d, ok := e.dep()
		if !ok {
			return nil, fmt.Errorf("requirement %q flags %q: %w", e.Name, e.Flags, ErrFormat)
		}
		p.Requires = append(p.Requires, d)
	}
	for _, e := range px.Recommends {
		if d, ok := e.dep(); ok && !strings.HasPrefix(d.Name, "(") {
			p.Recommends = append(p.Recommends, d)
		}
	}
	// A rich conflict (rpm 4.14 allows them; Fedora has next to none)
	// would need evaluating against the whole set and is not honoured.
	for _, e := range px.Conflicts {
		d, ok := e.dep()
		if !ok {
			return nil, fmt.Errorf("conflict %q flags %q: %w", e.Name, e.Flags, ErrFormat)
		}
		if !strings.HasPrefix(d.Name, "(") {
			p.Conflicts = append(p.Conflicts, d)
		}
	}
	for _, e := range px.Obsoletes {
		d, ok := e.dep()
		if !ok || strings.HasPrefix(d.Name, "(") {
			return nil, fmt.Errorf("obsolete %q flags %q: %w", e.Name, e.Flags, ErrFormat)
		}
		p.Obsoletes = append(p.Obsoletes, d)
	}
	return p, nil
}
