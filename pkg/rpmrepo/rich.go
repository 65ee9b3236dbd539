package rpmrepo

import (
	"fmt"
	"strings"

	"github.com/colinux-ng/colinux/pkg/rpm"
)

// rich is a parsed rich (boolean) dependency, rpm 4.13+:
//
//	(a or b)  (a and b)  (a if b)  (a if b else c)  (a unless b)
//	(a with b)  (a without b), nested, each operand "name [op evr]".
type rich struct {
	op   string // "" for a simple dependency
	dep  *Dep
	args []*rich // if/unless: then, condition[, else]
}

func (r *rich) String() string {
	if r.op == "" {
		return r.dep.String()
	}
	parts := make([]string, len(r.args))
	for i, a := range r.args {
		parts[i] = a.String()
	}
	if len(parts) == 3 {
		return "(" + parts[0] + " " + r.op + " " + parts[1] + " else " + parts[2] + ")"
	}
	return "(" + strings.Join(parts, " "+r.op+" ") + ")"
}

var richOps = map[string]bool{"and": true, "or": true, "if": true, "unless": true, "with": true, "without": true}

var compareOps = map[string]int{"<": rpm.Less, ">": rpm.Greater, "=": rpm.Equal, "==": rpm.Equal,
	"<=": rpm.Less | rpm.Equal, ">=": rpm.Greater | rpm.Equal}

// maxRichDepth bounds nesting, so a hostile primary.xml cannot exhaust
// the stack.
const maxRichDepth = 32

func parseRich(s string) (*rich, error) {
	toks := richTokens(s)
	p := &richParser{toks: toks}
	r, err := p.expr(0)
	if err == nil && p.i != len(toks) {
		err = fmt.Errorf("trailing %q", strings.Join(toks[p.i:], " "))
	}
	if err != nil {
		return nil, fmt.Errorf("rich dependency %q: %v: %w", s, err, ErrFormat)
	}
	return r, nil
}

// richTokens splits a rich dependency into "(", ")" and words. A word
// keeps the balanced parentheses inside it, as rpm's parser does:
// "python3dist(foo)" and "libc.so.6()(64bit)" are names.
func richTokens(s string) []string {
	var toks []string
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ' || c == '\t':
			i++
		case c == '(' || c == ')':
			toks = append(toks, string(c))
			i++
		default:
			j, depth := i, 0
			for ; j < len(s) && s[j] != ' ' && s[j] != '\t' && (s[j] != ')' || depth > 0); j++ {
				switch s[j] {
				case '(':
					depth++
				case ')':
					depth--
				}
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks
}

type richParser struct {
	toks []string
	i    int
}

func (p *richParser) next() string {
	if p.i >= len(p.toks) {
		return ""
	}
	p.i++
	return p.toks[p.i-1]
}

func (p *richParser) peek() string {
	if p.i >= len(p.toks) {
		return ""
	}
	return p.toks[p.i]
}

// expr parses "( term op term ... )".
func (p *richParser) expr(depth int) (*rich, error) {
	if depth > maxRichDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxRichDepth)
	}
	if p.next() != "(" {
		return nil, fmt.Errorf("want (")
	}
	first, err := p.term(depth)
	if err != nil {
		return nil, err
	}
	r := &rich{args: []*rich{first}}
	for {
		tok := p.next()
		switch {
		case tok == ")":
			if r.op == "" {
				return first, nil // "(a)"
			}
			return r, nil
		case tok == "else" && (r.op == "if" || r.op == "unless") && len(r.args) == 2:
		case richOps[tok] && (r.op == "" || (r.op == tok && (tok == "and" || tok == "or" || tok == "with"))):
			r.op = tok
		default:
			return nil, fmt.Errorf("unexpected %q", tok)
		}
		t, err := p.term(depth)
		if err != nil {
			return nil, err
		}
		r.args = append(r.args, t)
	}
}

// term parses a nested expression or "name [op evr]".
func (p *richParser) term(depth int) (*rich, error) {
	switch tok := p.peek(); {
	case tok == "(":
		return p.expr(depth + 1)
	case tok == "" || tok == ")" || richOps[tok] || tok == "else":
		return nil, fmt.Errorf("want a dependency, got %q", tok)
	}
	d := &Dep{Name: p.next()}
	if f, ok := compareOps[p.peek()]; ok {
		p.next()
		v := p.next()
		if v == "" || v == ")" {
			return nil, fmt.Errorf("%s: no version after the operator", d.Name)
		}
		d.Flags, d.EVR = f, rpm.ParseEVR(v)
	}
	return &rich{dep: d}, nil
}
