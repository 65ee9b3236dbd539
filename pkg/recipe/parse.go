package recipe

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is one problem in a recipe, located by file, line (0 when unknown)
// and key path such as "files[2].mode".
type Error struct {
	File string
	Line int
	Path string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// joinSorted joins errors in line order, the order a reader fixes them.
func joinSorted(errs []error) error {
	slices.SortStableFunc(errs, func(a, b error) int {
		return a.(*Error).Line - b.(*Error).Line
	})
	return errors.Join(errs...)
}

// Load reads, checks and completes the recipe at path, and fingerprints
// the host files its entries copy (see Hash).
func Load(path string) (*Recipe, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, err := Parse(data, path)
	if err != nil {
		return nil, err
	}
	if err := r.hashCopies(); err != nil {
		return nil, err
	}
	return r, nil
}

// Parse decodes a recipe, expands its templates, fills in defaults and
// validates it. name is used in errors and is the base for relative host
// paths. Every error found in a phase is returned, joined; a phase with
// errors ends parsing, so its mistakes do not echo in later phases.
func Parse(data []byte, name string) (*Recipe, error) {
	r := &Recipe{File: name, lines: map[string]int{}}
	if err := r.decode(data); err != nil {
		return nil, err
	}
	if err := r.expand(); err != nil {
		return nil, err
	}
	r.applyDefaults()
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// errorAt makes an Error for key path, at the line of the path or of its
// nearest enclosing key when the path itself was not written (a default).
func (r *Recipe) errorAt(path, format string, args ...any) *Error {
	return &Error{File: r.File, Line: r.line(path), Path: path, Msg: fmt.Sprintf(format, args...)}
}

func (r *Recipe) line(path string) int {
	for {
		if n, ok := r.lines[path]; ok {
			return n
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
}

// decode walks the YAML node tree itself instead of using yaml.Unmarshal:
// nodes carry line numbers, so every unknown key and wrongly typed value is
// reported where it is, all of them at once, and lines are kept for the
// later phases.
func (r *Recipe) decode(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return &Error{File: r.File, Msg: "empty recipe"}
		}
		return r.syntaxError(err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); err != io.EOF {
		if err != nil {
			return r.syntaxError(err)
		}
		return &Error{File: r.File, Line: next.Line, Msg: "a recipe is one YAML document, found a second"}
	}
	d := decoder{r: r}
	d.value(doc.Content[0], reflect.ValueOf(r).Elem(), "")
	return joinSorted(d.errs)
}

// syntaxError turns yaml.v3's "yaml: line N: msg" into an Error.
func (r *Recipe) syntaxError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: r.File, Msg: msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		num, text, _ := strings.Cut(rest, ": ")
		if n, err := strconv.Atoi(num); err == nil {
			e.Line, e.Msg = n, text
			if parserError(text) {
				e.Line++
			}
		}
	}
	return e
}

// parserError reports whether msg comes from yaml.v3's parser rather than
// its scanner: v3.0.1 numbers parser errors from 0 and scanner errors from
// 1. These are all the parser's messages (parserc.go).
func parserError(msg string) bool {
	for _, p := range []string{
		"did not find expected <document start>",
		"did not find expected node content",
		"did not find expected '-' indicator",
		"did not find expected key",
		"did not find expected ',' or",
		"found undefined tag handle",
		"found duplicate %",
		"found incompatible YAML document",
	} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// scalar is a type with its own syntax in a single YAML scalar (sizes,
// modes). It parses the raw text, exactly as the user wrote it.
type scalar interface {
	parseScalar(text string) error
}

type decoder struct {
	r    *Recipe
	errs []error
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.r.File, Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

var scalarType = reflect.TypeFor[scalar]()

// value decodes n into v, which is addressable.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		// Expanding aliases could blow a small file up exponentially.
		d.fail(n, path, "YAML aliases (*name) are not supported in recipes")
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // "key:" with no value leaves the default
	}
	if v.Addr().Type().Implements(scalarType) {
		if n.Kind != yaml.ScalarNode {
			d.fail(n, path, "want a single value, got %s", describe(n))
		} else if err := v.Addr().Interface().(scalar).parseScalar(n.Value); err != nil {
			d.fail(n, path, "%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		d.value(n, elem.Elem(), path)
		v.Set(elem)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[Source]() {
			d.source(n, v.Addr().Interface().(*Source), path)
			return
		}
		d.mapping(n, v, path, describePath(path), "")
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.r.lines[p] = item.Line
			d.value(item, s.Index(i), p)
		}
		v.Set(s)
	case reflect.Map: // map[string]string: variables
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "want a mapping of names to values, got %s", describe(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		d.pairs(n, path, path, func(key string, val *yaml.Node, p string) bool {
			s := reflect.New(v.Type().Elem()).Elem()
			d.value(val, s, p)
			m.SetMapIndex(reflect.ValueOf(key), s)
			return true
		})
		v.Set(m)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(n, path, "want a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.fail(n, path, "want true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			d.fail(n, path, "want an integer, got %s", describe(n))
			return
		}
		v.SetInt(i)
	default:
		panic("recipe: no decoder for " + v.Type().String()) // a schema bug, caught by tests
	}
}

// mapping decodes a YAML mapping into struct v. Key skip, if not empty, is
// allowed but left to the caller.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path, context, skip string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping, got %s", describe(n))
		return
	}
	d.pairs(n, path, context, func(key string, val *yaml.Node, p string) bool {
		if key == skip {
			return true
		}
		f, ok := fieldByKey(v, key)
		if !ok {
			return false
		}
		d.value(val, f, p)
		return true
	})
}

// pairs calls set for each key of mapping n, recording key lines and
// rejecting non-string and repeated keys; set reports whether it knows the
// key, and unknown keys are errors "in context".
func (d *decoder) pairs(n *yaml.Node, path, context string, set func(key string, val *yaml.Node, path string) bool) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!null" || k.Value == "<<" {
			d.fail(k, path, "want a plain key, got %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(k, path, "key %q repeated (first at line %d)", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		p := joinPath(path, k.Value)
		d.r.lines[p] = k.Line
		if !set(k.Value, val, p) {
			d.fail(k, "", "unknown key %q in %s", k.Value, context)
		}
	}
}

// source decodes the flat source mapping: type picks the struct that the
// other keys belong to.
func (d *decoder) source(n *yaml.Node, s *Source, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping, got %s", describe(n))
		return
	}
	var typ *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "type" {
			typ = n.Content[i+1]
			d.r.lines[joinPath(path, "type")] = n.Content[i].Line
		}
	}
	if typ == nil {
		d.fail(n, path, "missing type (debian, ubuntu, fedora or gentoo)")
		return
	}
	errs := len(d.errs)
	d.value(typ, reflect.ValueOf(&s.Type).Elem(), joinPath(path, "type"))
	if len(d.errs) > errs {
		return
	}
	var sub any
	switch s.Type {
	case Debian, Ubuntu:
		s.Debian = &DebianSource{}
		sub = s.Debian
	case Fedora:
		s.Fedora = &FedoraSource{}
		sub = s.Fedora
	case Gentoo:
		s.Gentoo = &GentooSource{}
		sub = s.Gentoo
	default:
		d.fail(typ, joinPath(path, "type"), "want debian, ubuntu, fedora or gentoo, got %q", s.Type)
		return
	}
	d.mapping(n, reflect.ValueOf(sub).Elem(), path, fmt.Sprintf("%s (type %s)", describePath(path), s.Type), "type")
}

// fieldByKey finds the field of struct v whose yaml tag is key, looking
// into inline (embedded) structs.
func fieldByKey(v reflect.Value, key string) (reflect.Value, bool) {
	for i := range v.NumField() {
		name, inline := yamlKey(v.Type().Field(i))
		switch {
		case inline && v.Field(i).Kind() == reflect.Struct:
			if f, ok := fieldByKey(v.Field(i), key); ok {
				return f, true
			}
		case name == key:
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// yamlKey returns a field's recipe key ("" when it has none) and whether
// its fields sit inline in the enclosing mapping.
func yamlKey(f reflect.StructField) (string, bool) {
	tag, ok := f.Tag.Lookup("yaml")
	if !ok || tag == "-" || !f.IsExported() {
		return "", false
	}
	name, opts, _ := strings.Cut(tag, ",")
	return name, opts == "inline"
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func describePath(path string) string {
	if path == "" {
		return "recipe"
	}
	return path
}

// describe names what a node is, for "want X, got Y" errors.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return strconv.Quote(n.Value)
}
