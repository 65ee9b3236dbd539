package rpmrepo

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/colinux-ng/colinux/pkg/rpm"
)

// ErrUnresolvable: a requirement has no provider in the repositories.
var ErrUnresolvable = errors.New("unresolvable dependency")

// ErrConflict: what must be installed conflicts with, or is obsoleted
// by, another package that must be installed.
var ErrConflict = errors.New("conflicting packages")

// Index holds the newest package of each name and architecture across
// the repositories (a release and its updates), and who provides what.
type Index struct {
	pkgs     map[string]*Package   // by name.arch
	provides map[string][]*Package // by provide name and listed file
}

// NewIndex keeps the newest of each name and architecture; among equal
// versions the later repository's.
func NewIndex(pkgs []*Package) *Index {
	ix := &Index{pkgs: map[string]*Package{}, provides: map[string][]*Package{}}
	for _, p := range pkgs {
		k := p.Name + "." + p.Arch
		if old, ok := ix.pkgs[k]; !ok || p.EVR.Compare(old.EVR) > 0 || (p.EVR.Compare(old.EVR) == 0 && p.Repo > old.Repo) {
			ix.pkgs[k] = p
		}
	}
	for _, k := range sortedKeys(ix.pkgs) {
		p := ix.pkgs[k]
		for _, d := range p.Provides {
			ix.provides[d.Name] = appendOnce(ix.provides[d.Name], p)
		}
		for _, f := range p.Files {
			ix.provides[f] = appendOnce(ix.provides[f], p)
		}
	}
	return ix
}

// Len is the number of packages indexed.
func (ix *Index) Len() int { return len(ix.pkgs) }

// satisfies reports whether p provides d.
func satisfies(p *Package, d Dep) bool {
	for _, pr := range p.Provides {
		if pr.Name == d.Name && rpm.Overlaps(pr.Flags, pr.EVR, d.Flags, d.EVR) {
			return true
		}
	}
	return strings.HasPrefix(d.Name, "/") && slices.Contains(p.Files, d.Name)
}

// Resolve returns the packages that install the named packages (or
// provides) with everything they require, sorted by name; weak
// dependencies are not followed. Packages named in exclude are never
// chosen: a requirement only they satisfy is an error. No two chosen
// packages conflict or obsolete one another, as rpm requires: a provider
// that would is passed over, one that another provider of the same
// requirement obsoletes too (its replacement is installed, as dnf does),
// and a requirement left with none fails with ErrConflict.
func (ix *Index) Resolve(install, exclude []string) ([]*Package, error) {
	s := &selection{ix: ix, chosen: map[*Package]bool{}, exclude: exclude, against: map[string][]clash{}}
	for _, name := range install {
		if slices.Contains(exclude, name) {
			return nil, fmt.Errorf("%s is both installed and removed: %w", name, ErrUnresolvable)
		}
		if err := s.add(Dep{Name: name}, nil); err != nil {
			return nil, err
		}
	}
	// Each chosen package's requirements are met once, in the order the
	// packages were chosen. Conditional requirements ("(a if b)") can
	// become due as the set grows, so the rich ones are met again until a
	// round adds nothing.
	for done := 0; ; {
		for ; done < len(s.order); done++ {
			p := s.order[done]
			for _, d := range p.Requires {
				if err := s.require(d, p); err != nil {
					return nil, err
				}
			}
		}
		for _, p := range s.order[:done] {
			for _, d := range p.Requires {
				if strings.HasPrefix(d.Name, "(") {
					if err := s.require(d, p); err != nil {
						return nil, err
					}
				}
			}
		}
		if done == len(s.order) {
			break
		}
	}
	out := slices.Clone(s.order)
	slices.SortFunc(out, func(a, b *Package) int { return strings.Compare(a.NEVRA(), b.NEVRA()) })
	return out, nil
}

type selection struct {
	ix         *Index
	chosen     map[*Package]bool
	order      []*Package
	exclude    []string
	recommends []Dep              // of the chosen packages
	against    map[string][]clash // the chosen packages' conflicts and obsoletes, by name
}

// clash is a chosen package's conflict or obsolete.
type clash struct {
	by       *Package
	dep      Dep
	obsolete bool
}

// hits reports whether the conflict or obsolete applies to p: a conflict
// to what p provides, an obsolete to p's own name and version. A package
// never clashes with itself (fedora-release-identity-basic provides and
// conflicts with fedora-release-identity, so that only one is installed).
func (c clash) hits(p *Package) bool {
	if p == c.by {
		return false
	}
	if c.obsolete { // rpm ignores a package's obsoletes of its own name
		return p.Name == c.dep.Name && p.Name != c.by.Name && rpm.Overlaps(rpm.Equal, p.EVR, c.dep.Flags, c.dep.EVR)
	}
	return satisfies(p, c.dep)
}

// clashes lists p's conflicts and obsoletes.
func (p *Package) clashes() []clash {
	var out []clash
	for _, d := range p.Conflicts {
		out = append(out, clash{p, d, false})
	}
	for _, d := range p.Obsoletes {
		out = append(out, clash{p, d, true})
	}
	return out
}

func (c clash) String() string {
	if c.obsolete {
		return "obsoletes " + c.dep.String()
	}
	return "conflicts with " + c.dep.String()
}

// blocked says why p cannot join the chosen set, "" when it can.
func (s *selection) blocked(p *Package) string {
	names := []string{p.Name}
	for _, d := range p.Provides {
		names = append(names, d.Name)
	}
	for _, n := range append(names, p.Files...) {
		for _, c := range s.against[n] {
			if c.hits(p) {
				return c.by.NEVRA() + " " + c.String()
			}
		}
	}
	for _, c := range p.clashes() {
		for _, q := range s.ix.provides[c.dep.Name] {
			if s.chosen[q] && c.hits(q) {
				return p.NEVRA() + " " + c.String() + " (" + q.NEVRA() + ")"
			}
		}
	}
	return ""
}

// has reports whether the chosen set satisfies d.
func (s *selection) has(d Dep) bool {
	for _, p := range s.ix.provides[d.Name] {
		if s.chosen[p] && satisfies(p, d) {
			return true
		}
	}
	return false
}

// add chooses a provider of d unless one is chosen already. Preferred: a
// package of that very name, then one a chosen package recommends (as
// libsolv does: fedora-release recommends fedora-release-identity-basic
// among the providers of fedora-release-identity), then the shortest
// name, then the first by name.
func (s *selection) add(d Dep, by *Package) error {
	if s.has(d) {
		return nil
	}
	var cands, excluded []*Package
	var why []string // of the blocked providers
	for _, p := range s.ix.provides[d.Name] {
		switch {
		case !satisfies(p, d):
		case slices.Contains(s.exclude, p.Name):
			excluded = append(excluded, p)
		default:
			if b := s.blocked(p); b != "" {
				why = append(why, p.NEVRA()+": "+b)
				continue
			}
			cands = append(cands, p)
		}
	}
	// A provider another one obsoletes gives way to it (unless all do).
	if kept := slices.DeleteFunc(slices.Clone(cands), func(p *Package) bool {
		return slices.ContainsFunc(cands, func(q *Package) bool { return obsoletes(q, p) })
	}); len(kept) > 0 {
		cands = kept
	}
	if len(cands) == 0 {
		switch {
		case len(why) > 0:
			return fmt.Errorf("%s requires %s, and every provider clashes with a package already chosen: %s: %w", who(by), d, strings.Join(why, "; "), ErrConflict)
		case len(excluded) > 0:
			return fmt.Errorf("%s requires %s, which only %s provides, and the recipe removes it: %w", who(by), d, excluded[0].Name, ErrUnresolvable)
		}
		return fmt.Errorf("%s requires %s, which no package provides: %w", who(by), d, ErrUnresolvable)
	}
	slices.SortStableFunc(cands, func(a, b *Package) int {
		if (a.Name == d.Name) != (b.Name == d.Name) {
			if a.Name == d.Name {
				return -1
			}
			return 1
		}
		if ra, rb := s.recommended(a), s.recommended(b); ra != rb {
			if ra {
				return -1
			}
			return 1
		}
		if len(a.Name) != len(b.Name) {
			return len(a.Name) - len(b.Name)
		}
		return strings.Compare(a.NEVRA(), b.NEVRA())
	})
	p := cands[0]
	s.chosen[p] = true
	s.order = append(s.order, p)
	s.recommends = append(s.recommends, p.Recommends...)
	for _, c := range p.clashes() {
		s.against[c.dep.Name] = append(s.against[c.dep.Name], c)
	}
	return nil
}

// obsoletes reports whether p obsoletes q.
func obsoletes(p, q *Package) bool {
	return slices.ContainsFunc(p.Obsoletes, func(d Dep) bool { return clash{p, d, true}.hits(q) })
}

// recommended reports whether a chosen package recommends p.
func (s *selection) recommended(p *Package) bool {
	return slices.ContainsFunc(s.recommends, func(d Dep) bool { return satisfies(p, d) })
}

// require meets one requirement of by, simple or rich.
func (s *selection) require(d Dep, by *Package) error {
	if !strings.HasPrefix(d.Name, "(") {
		return s.add(d, by)
	}
	r, err := parseRich(d.Name)
	if err != nil {
		return fmt.Errorf("%s: %w", who(by), err)
	}
	return s.fulfil(r, by)
}

// fulfil installs what an unsatisfied rich dependency needs.
func (s *selection) fulfil(r *rich, by *Package) error {
	if s.sat(r) {
		return nil
	}
	switch r.op {
	case "":
		return s.add(*r.dep, by)
	case "and", "with":
		for _, a := range r.args {
			if err := s.fulfil(a, by); err != nil {
				return err
			}
		}
		return nil
	case "without":
		return s.fulfil(r.args[0], by)
	case "or":
		for _, a := range r.args {
			if s.possible(a) {
				return s.fulfil(a, by)
			}
		}
		return fmt.Errorf("%s requires %s, which no package provides: %w", who(by), r, ErrUnresolvable)
	case "if", "unless":
		if s.sat(r.args[1]) == (r.op == "if") {
			return s.fulfil(r.args[0], by)
		}
		if len(r.args) == 3 {
			return s.fulfil(r.args[2], by)
		}
	}
	return nil
}

// sat evaluates a rich dependency against the chosen set.
func (s *selection) sat(r *rich) bool {
	switch r.op {
	case "":
		return s.has(*r.dep)
	case "and", "with":
		for _, a := range r.args {
			if !s.sat(a) {
				return false
			}
		}
		return true
	case "without":
		return s.sat(r.args[0])
	case "or":
		return slices.ContainsFunc(r.args, s.sat)
	}
	// if, unless: true when the branch that applies holds (or none does)
	if s.sat(r.args[1]) == (r.op == "if") {
		return s.sat(r.args[0])
	}
	return len(r.args) < 3 || s.sat(r.args[2])
}

// possible reports whether an alternative's simple dependencies all have
// a provider that is not excluded.
func (s *selection) possible(r *rich) bool {
	if r.op == "" {
		for _, p := range s.ix.provides[r.dep.Name] {
			if satisfies(p, *r.dep) && !slices.Contains(s.exclude, p.Name) {
				return true
			}
		}
		return false
	}
	if r.op == "if" || r.op == "unless" || r.op == "without" {
		return s.possible(r.args[0])
	}
	if r.op == "or" {
		return slices.ContainsFunc(r.args, s.possible)
	}
	for _, a := range r.args {
		if !s.possible(a) {
			return false
		}
	}
	return true
}

// who names the package a requirement comes from; nil is the recipe.
func who(p *Package) string {
	if p == nil {
		return "the recipe"
	}
	return p.NEVRA()
}

func appendOnce(list []*Package, p *Package) []*Package {
	if len(list) > 0 && list[len(list)-1] == p {
		return list
	}
	return append(list, p)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
