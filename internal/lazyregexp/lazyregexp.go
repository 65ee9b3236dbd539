// Package lazyregexp holds package-level regular expressions that compile
// on first use rather than at program start. Every coimage and corun
// command links the patterns of all the others (recipe checks, release
// names, Fedora's checksum files, …); compiling them all up front cost
// each run ~1.5 ms, ~10 % of its start-up.
package lazyregexp

import (
	"regexp"
	"sync"
)

// Regexp is a regexp.Regexp compiled the first time it is used; a bad
// expression panics then, as regexp.MustCompile would at start-up.
type Regexp struct {
	compile func() *regexp.Regexp
}

// New returns expr, to be compiled on first use.
func New(expr string) *Regexp {
	return &Regexp{sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })}
}

func (r *Regexp) MatchString(s string) bool { return r.compile().MatchString(s) }

func (r *Regexp) FindStringSubmatch(s string) []string { return r.compile().FindStringSubmatch(s) }

func (r *Regexp) FindAllSubmatch(b []byte, n int) [][][]byte {
	return r.compile().FindAllSubmatch(b, n)
}

func (r *Regexp) ReplaceAllString(src, repl string) string {
	return r.compile().ReplaceAllString(src, repl)
}
