package release

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/colinux-ng/colinux/pkg/fetch"
)

// Sums is the content of SHA256SUMS: path (relative to the release
// directory) → lowercase hex SHA256.
type Sums map[string]string

// Marshal writes the lines `sha256sum -c` reads, sorted by path.
func (s Sums) Marshal() []byte {
	paths := make([]string, 0, len(s))
	for p := range s {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	var b bytes.Buffer
	for _, p := range paths {
		fmt.Fprintf(&b, "%s  %s\n", s[p], p)
	}
	return b.Bytes()
}

// ParseSums reads SHA256SUMS as sha256sum writes it ("HASH  PATH" or
// "HASH *PATH"), accepting only the plain relative paths a release holds.
func ParseSums(data []byte, what string) (Sums, error) {
	s := Sums{}
	for i, line := range strings.Split(string(data), "\n") {
		if line == "" && i == strings.Count(string(data), "\n") {
			break
		}
		sum, rest, ok := strings.Cut(line, " ")
		if !ok || !fetch.IsSHA256(sum) || len(rest) < 2 || rest[0] != ' ' && rest[0] != '*' {
			return nil, fmt.Errorf("%s:%d: not a SHA256 line: %w", what, i+1, ErrFormat)
		}
		p := rest[1:]
		if err := checkPath(p); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", what, i+1, err)
		}
		if _, dup := s[p]; dup {
			return nil, fmt.Errorf("%s:%d: %s listed twice: %w", what, i+1, p, ErrFormat)
		}
		s[p] = sum
	}
	return s, nil
}
