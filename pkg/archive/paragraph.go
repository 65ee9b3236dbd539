package archive

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Field is one "Name: value" entry of a deb822 paragraph. Continuation
// lines of a multi-line value are joined with "\n", each without its one
// leading space or tab.
type Field struct {
	Name, Value string
}

// Paragraph is one deb822 stanza (a Release, a Packages entry, a control
// file, an apt .sources entry) with its fields in file order.
type Paragraph []Field

// Get returns the value of the named field, matched case-insensitively as
// deb822 requires, or "" when absent.
func (p Paragraph) Get(name string) string {
	for _, f := range p {
		if len(f.Name) == len(name) && strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// maxLine bounds one line of deb822 input; real Packages lines stay far
// below it, and it keeps hostile input from growing the buffer forever.
const maxLine = 4 << 20

// parseParagraphs reads deb822 data from r and calls fn with each paragraph
// and the line it starts on. name labels errors. Lines starting with '#' are
// comments (apt .sources files use them).
func parseParagraphs(r io.Reader, name string, fn func(p Paragraph, line int) error) error {
	return scanParagraphs(r, name, nil, fn)
}

// scanParagraphs is parseParagraphs keeping only the fields whose
// lower-case names keep holds (all when keep is nil). Every line is still
// checked; skipping the rest spares a Packages index most of its
// allocations, as its descriptions, tags and MD5s are not needed. The
// paragraph passed to fn is reused afterwards when keep is set.
func scanParagraphs(r io.Reader, name string, keep map[string]bool, fn func(p Paragraph, line int) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	var (
		para    Paragraph
		start   int
		n       int
		inField bool // the last field line seen, continued by indented lines
		kept    bool // and it is in para
		lower   [64]byte
	)
	flush := func() error {
		inField = false
		if len(para) == 0 {
			return nil
		}
		p := para
		if keep != nil {
			para = para[:0]
		} else {
			para = nil
		}
		return fn(p, start)
	}
	for sc.Scan() {
		n++
		line := bytes.TrimRight(sc.Bytes(), " \t\r")
		switch {
		case len(line) == 0:
			if err := flush(); err != nil {
				return err
			}
		case line[0] == '#':
		case line[0] == ' ' || line[0] == '\t':
			if !inField {
				return fmt.Errorf("%s:%d: continuation line outside a field: %w", name, n, ErrFormat)
			}
			if kept {
				last := &para[len(para)-1]
				last.Value += "\n" + string(line[1:])
			}
		default:
			k, v, ok := bytes.Cut(line, []byte(":"))
			if !ok || len(k) == 0 || bytes.ContainsAny(k, " \t") {
				return fmt.Errorf("%s:%d: expected \"Field: value\", got %q: %w", name, n, line, ErrFormat)
			}
			if !inField && len(para) == 0 {
				start = n
			}
			inField = true
			kept = keep == nil || len(k) <= len(lower) && keep[string(asciiLower(lower[:0], k))]
			if kept {
				para = append(para, Field{Name: string(k), Value: string(bytes.TrimSpace(v))})
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s:%d: %w", name, n+1, err)
	}
	return flush()
}

// asciiLower appends b to dst with ASCII letters in lower case.
func asciiLower(dst, b []byte) []byte {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
