package archive

import (
	"sort"
)

// Index is the package universe of one architecture: the Packages entries
// of every component of a suite.
type Index struct {
	Arch      string
	byName    map[string][]*Package // highest version first
	providers map[string][]*Package // by provided (virtual) name
}

// NewIndex indexes pkgs for arch, dropping entries of other architectures
// (only arch and "all" can be installed) and exact duplicates.
func NewIndex(arch string, pkgs []*Package) *Index {
	// Sized up front: growing maps of ~64k names rehashes them several times.
	ix := &Index{Arch: arch, byName: make(map[string][]*Package, len(pkgs)), providers: map[string][]*Package{}}
	for _, p := range pkgs {
		if p.Architecture != arch && p.Architecture != "all" || ix.has(p) {
			continue
		}
		ix.byName[p.Name] = append(ix.byName[p.Name], p)
		for _, pr := range p.provides {
			ix.providers[pr.Name] = append(ix.providers[pr.Name], p)
		}
	}
	for _, vs := range ix.byName {
		sort.SliceStable(vs, func(i, j int) bool { return vs[i].version.Compare(vs[j].version) > 0 })
	}
	return ix
}

func (ix *Index) has(p *Package) bool {
	for _, q := range ix.byName[p.Name] {
		if q.Version == p.Version {
			return true
		}
	}
	return false
}

// Len is the number of package versions indexed.
func (ix *Index) Len() int {
	n := 0
	for _, vs := range ix.byName {
		n += len(vs)
	}
	return n
}

// Lookup returns the highest version of the named real package, or nil.
func (ix *Index) Lookup(name string) *Package {
	if vs := ix.byName[name]; len(vs) > 0 {
		return vs[0]
	}
	return nil
}

// names returns every real package name, sorted.
func (ix *Index) names() []string {
	out := make([]string, 0, len(ix.byName))
	for n := range ix.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
