package archive

import (
	"fmt"
	"strings"
)

// Relation is one entry of a relationship field such as Depends:
// name[:arch] [(op version)].
type Relation struct {
	Name    string
	Arch    string // qualifier after ':' ("any", "native" or an architecture), or ""
	Op      string // "", "<<", "<=", "=", ">=" or ">>"
	Version string

	version Version
}

func (r Relation) String() string {
	s := r.Name
	if r.Arch != "" {
		s += ":" + r.Arch
	}
	if r.Op != "" {
		s += " (" + r.Op + " " + r.Version + ")"
	}
	return s
}

// allows reports whether version v satisfies r's version condition.
func (r Relation) allows(v Version) bool {
	c := v.Compare(r.version)
	switch r.Op {
	case "":
		return true
	case "<<":
		return c < 0
	case "<=":
		return c <= 0
	case "=":
		return c == 0
	case ">=":
		return c >= 0
	case ">>":
		return c > 0
	}
	return false
}

// ParseRelations parses a Depends-style field: comma-separated groups of
// '|'-separated alternatives.
func ParseRelations(field string) ([][]Relation, error) {
	var groups [][]Relation
	for _, g := range strings.Split(field, ",") {
		if strings.TrimSpace(g) == "" {
			continue
		}
		var alts []Relation
		for _, a := range strings.Split(g, "|") {
			r, err := parseRelation(a)
			if err != nil {
				return nil, err
			}
			alts = append(alts, r)
		}
		groups = append(groups, alts)
	}
	return groups, nil
}

// parseProvides parses a Provides field: no alternatives, and only "="
// versions.
func parseProvides(field string) ([]Relation, error) {
	groups, err := ParseRelations(field)
	if err != nil {
		return nil, err
	}
	out := make([]Relation, 0, len(groups))
	for _, g := range groups {
		if len(g) != 1 {
			return nil, fmt.Errorf("alternatives not allowed in %q: %w", field, ErrFormat)
		}
		if g[0].Op != "" && g[0].Op != "=" {
			return nil, fmt.Errorf("only \"=\" versions allowed in %q: %w", field, ErrFormat)
		}
		out = append(out, g[0])
	}
	return out, nil
}

func parseRelation(s string) (Relation, error) {
	s = strings.TrimSpace(s)
	bad := func(why string) (Relation, error) {
		return Relation{}, fmt.Errorf("relation %q: %s: %w", s, why, ErrFormat)
	}
	name, rest := s, ""
	if i := strings.IndexAny(s, " \t\n(["); i >= 0 {
		name, rest = s[:i], strings.TrimSpace(s[i:])
	}
	var r Relation
	r.Name, r.Arch, _ = strings.Cut(name, ":")
	if !validName(r.Name) || strings.Contains(name, ":") && !validName(r.Arch) {
		return bad("bad package name")
	}
	if rest == "" {
		return r, nil
	}
	if !strings.HasPrefix(rest, "(") || !strings.HasSuffix(rest, ")") {
		// Architecture and build-profile restrictions only occur in source
		// packages, never in the binary indices this client reads.
		return bad("expected a (op version) condition")
	}
	cond := strings.TrimSpace(rest[1 : len(rest)-1])
	raw := cond[:len(cond)-len(strings.TrimLeft(cond, "<>="))]
	switch raw {
	case "<": // obsolete spellings, read as dpkg does
		r.Op = "<="
	case ">":
		r.Op = ">="
	case "<<", "<=", "=", ">=", ">>":
		r.Op = raw
	default:
		return bad("unknown operator")
	}
	r.Version = strings.TrimSpace(cond[len(raw):])
	v, err := ParseVersion(r.Version)
	if err != nil {
		return bad(err.Error())
	}
	r.version = v
	return r, nil
}

// validName accepts Debian package and architecture names.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || isDigit(c) || i > 0 && strings.IndexByte("+-.", c) >= 0) {
			return false
		}
	}
	return true
}
