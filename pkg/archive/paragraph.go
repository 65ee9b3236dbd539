package archive

import (
	"bufio"
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
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	var (
		para  Paragraph
		start int
		n     int
	)
	flush := func() error {
		if len(para) == 0 {
			return nil
		}
		p := para
		para = nil
		return fn(p, start)
	}
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), " \t\r")
		switch {
		case line == "":
			if err := flush(); err != nil {
				return err
			}
		case line[0] == '#':
		case line[0] == ' ' || line[0] == '\t':
			if len(para) == 0 {
				return fmt.Errorf("%s:%d: continuation line outside a field: %w", name, n, ErrFormat)
			}
			last := &para[len(para)-1]
			last.Value += "\n" + line[1:]
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok || k == "" || strings.ContainsAny(k, " \t") {
				return fmt.Errorf("%s:%d: expected \"Field: value\", got %q: %w", name, n, line, ErrFormat)
			}
			if len(para) == 0 {
				start = n
			}
			para = append(para, Field{Name: k, Value: strings.TrimSpace(v)})
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s:%d: %w", name, n+1, err)
	}
	return flush()
}
