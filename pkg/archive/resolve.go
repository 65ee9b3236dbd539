package archive

import (
	"fmt"
	"sort"
	"strings"
)

// Variant selects the base package set of a bootstrap, as debootstrap's
// --variant does.
type Variant string

const (
	// NoBase selects nothing by itself: only the extra packages and their
	// dependencies (corun fetching the user-mode-linux kernel).
	NoBase Variant = ""
	// Minbase is every Essential package, Priority required, and apt.
	// For bookworm, debootstrap also asks for usr-is-merged, which keeps
	// init-system-helpers' "usrmerge | usr-is-merged" from pulling in
	// usrmerge and perl; callers pass it as an extra package likewise.
	Minbase Variant = "minbase"
	// Important adds Priority important.
	Important Variant = "important"
	// Standard adds Priority standard.
	Standard Variant = "standard"
)

// priorities ranks Priority values; the variants include a prefix of them.
var priorities = []string{"required", "important", "standard", "optional", "extra"}

func priorityRank(p string) int {
	for i, q := range priorities {
		if p == q {
			return i
		}
	}
	return len(priorities)
}

// maxRank is the lowest priority rank the variant seeds, -1 for none.
func (v Variant) maxRank() (int, error) {
	switch v {
	case NoBase:
		return -1, nil
	case Minbase:
		return 0, nil
	case Important:
		return 1, nil
	case Standard:
		return 2, nil
	}
	return 0, fmt.Errorf("unknown variant %q (want minbase, important or standard)", v)
}

// Resolve computes the packages to install for variant plus extra, closed
// over Pre-Depends and Depends (Recommends and Suggests are not followed;
// Conflicts and Breaks are not checked). extra entries are package names
// or any relation ("foo (>= 1)", "a | b"). Of alternatives, one already
// selected wins, else the first satisfiable; groups with alternatives are
// decided only after every plain dependency is in, so that they see the
// most complete selection. Virtual packages go to the provider with the
// highest priority, then the first by name. The result is sorted by name.
func (ix *Index) Resolve(variant Variant, extra []string) ([]*Package, error) {
	maxRank, err := variant.maxRank()
	if err != nil {
		return nil, err
	}
	r := &resolver{ix: ix, selected: map[string]*Package{}, wantedBy: map[string]string{}}
	root := "(" + string(variant) + ")"
	if maxRank >= 0 {
		for _, name := range ix.names() {
			if p := ix.Lookup(name); p.Essential || priorityRank(p.Priority) <= maxRank {
				r.add(p, root)
			}
		}
		if err := r.request("apt", root); err != nil {
			return nil, err
		}
	}
	for _, s := range extra {
		if err := r.request(s, "(requested)"); err != nil {
			return nil, err
		}
	}
	if err := r.run(); err != nil {
		return nil, err
	}
	out := make([]*Package, 0, len(r.selected))
	for _, p := range r.selected {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

type resolver struct {
	ix       *Index
	selected map[string]*Package
	wantedBy map[string]string // package -> the package or root that pulled it in
	queue    []*Package        // selected, dependencies not yet read
	deferred []pending         // alternatives waiting for the plain dependencies
}

type pending struct {
	group []Relation
	from  string
}

// request selects what the relation text s asks for.
func (r *resolver) request(s, from string) error {
	groups, err := ParseRelations(s)
	if err != nil {
		return fmt.Errorf("package %q: %w", s, err)
	}
	for _, g := range groups {
		if err := r.need(g, from, false); err != nil {
			return err
		}
	}
	return nil
}

func (r *resolver) add(p *Package, from string) {
	r.selected[p.Name] = p
	r.wantedBy[p.Name] = from
	r.queue = append(r.queue, p)
}

// run reads dependencies until the selection is closed: all queued
// packages first, then one deferred alternative at a time.
func (r *resolver) run() error {
	for {
		for len(r.queue) > 0 {
			p := r.queue[0]
			r.queue = r.queue[1:]
			for _, field := range []string{p.PreDepends, p.Depends} {
				groups, err := ParseRelations(field)
				if err != nil {
					return fmt.Errorf("package %s: %w", p, err)
				}
				for _, g := range groups {
					if err := r.need(g, p.Name, true); err != nil {
						return err
					}
				}
			}
		}
		if len(r.deferred) == 0 {
			return nil
		}
		d := r.deferred[0]
		r.deferred = r.deferred[1:]
		if err := r.need(d.group, d.from, false); err != nil {
			return err
		}
	}
}

// need makes sure one relation of group is satisfied, selecting a package
// if none is yet. Groups with alternatives are deferred when mayDefer.
func (r *resolver) need(group []Relation, from string, mayDefer bool) error {
	for _, rel := range group {
		if r.satisfied(rel) {
			return nil
		}
	}
	if mayDefer && len(group) > 1 {
		r.deferred = append(r.deferred, pending{group, from})
		return nil
	}
	var why []string
	for _, rel := range group {
		cands := r.candidates(rel)
		if len(cands) > 0 {
			r.add(cands[0], from)
			return nil
		}
		why = append(why, r.explain(rel))
	}
	return fmt.Errorf("%w: %s (%s), needed by %s", ErrUnresolvable,
		relationsString(group), strings.Join(why, "; "), r.chain(from))
}

// satisfied reports whether the selection already meets rel, directly or
// through a Provides.
func (r *resolver) satisfied(rel Relation) bool {
	if p := r.selected[rel.Name]; p != nil && r.ix.archMatches(rel) && rel.allows(p.version) {
		return true
	}
	for _, p := range r.ix.providers[rel.Name] {
		if r.selected[p.Name] == p && providesFor(p, rel) {
			return true
		}
	}
	return false
}

// candidates lists packages that would satisfy rel, best first: real
// versions newest first, then providers by priority and name. A package
// whose name is already selected at another version cannot be chosen.
func (r *resolver) candidates(rel Relation) []*Package {
	if !r.ix.archMatches(rel) {
		return nil
	}
	free := func(p *Package) bool { return r.selected[p.Name] == nil }
	var out []*Package
	for _, p := range r.ix.byName[rel.Name] {
		if free(p) && rel.allows(p.version) {
			out = append(out, p)
		}
	}
	var provs []*Package
	for _, p := range r.ix.providers[rel.Name] {
		if free(p) && providesFor(p, rel) {
			provs = append(provs, p)
		}
	}
	sort.SliceStable(provs, func(i, j int) bool {
		a, b := provs[i], provs[j]
		if ra, rb := priorityRank(a.Priority), priorityRank(b.Priority); ra != rb {
			return ra < rb
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.version.Compare(b.version) > 0
	})
	return append(out, provs...)
}

// providesFor reports whether p's Provides satisfy rel. An unversioned
// Provides satisfies only unversioned dependencies.
func providesFor(p *Package, rel Relation) bool {
	for _, pr := range p.provides {
		if pr.Name != rel.Name {
			continue
		}
		if rel.Op == "" || pr.Op == "=" && rel.allows(pr.version) {
			return true
		}
	}
	return false
}

// archMatches handles architecture qualifiers. The index holds one
// architecture (plus "all"), so ":any" and ":native" are met by its
// packages, and only a qualifier naming that architecture otherwise.
func (ix *Index) archMatches(rel Relation) bool {
	switch rel.Arch {
	case "", "any", "native", ix.Arch:
		return true
	}
	return false
}

// explain says why nothing satisfies rel, for error messages.
func (r *resolver) explain(rel Relation) string {
	if !r.ix.archMatches(rel) {
		return fmt.Sprintf("%s: architecture %s is not %s", rel.Name, rel.Arch, r.ix.Arch)
	}
	if p := r.selected[rel.Name]; p != nil {
		return fmt.Sprintf("%s %s already selected", rel.Name, p.Version)
	}
	var have []string
	for _, p := range r.ix.byName[rel.Name] {
		have = append(have, p.Version)
	}
	switch {
	case len(have) > 0:
		return fmt.Sprintf("%s available only as %s", rel.Name, strings.Join(have, ", "))
	case len(r.ix.providers[rel.Name]) > 0:
		return fmt.Sprintf("no provider of %s matches", rel.Name)
	}
	return fmt.Sprintf("%s is not in the index", rel.Name)
}

// chain is the path from the root of the resolution to pkg.
func (r *resolver) chain(pkg string) string {
	path := []string{pkg}
	for seen := map[string]bool{pkg: true}; ; {
		next, ok := r.wantedBy[path[0]]
		if !ok || seen[next] {
			break
		}
		seen[next] = true
		path = append([]string{next}, path...)
	}
	return strings.Join(path, " -> ")
}

func relationsString(group []Relation) string {
	s := make([]string, len(group))
	for i, rel := range group {
		s[i] = rel.String()
	}
	return strings.Join(s, " | ")
}
