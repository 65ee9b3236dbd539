// Package console carries the guest console: a tail of recent output for
// error reports and late attachers, and attach/detach over a unix socket.
package console

import (
	"slices"
	"strings"
	"sync"
)

// Tail keeps the last bytes written to it. It is safe for concurrent use.
type Tail struct {
	mu   sync.Mutex
	max  int
	data []byte
}

// NewTail keeps up to max bytes.
func NewTail(max int) *Tail { return &Tail{max: max} }

func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.data = append(t.data, p...)
	if over := len(t.data) - t.max; over > 0 {
		t.data = append(t.data[:0], t.data[over:]...)
	}
	return len(p), nil
}

// Bytes returns a copy of what is kept.
func (t *Tail) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.data...)
}

// Lines returns the last n lines, without carriage returns.
func (t *Tail) Lines(n int) string {
	lines := t.lines()
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (t *Tail) lines() []string {
	s := strings.ReplaceAll(string(t.Bytes()), "\r", "")
	return strings.Split(strings.TrimRight(s, "\n"), "\n")
}

// PanicMark begins the line a Linux kernel prints as it panics, with why.
const PanicMark = "Kernel panic - not syncing"

// Report returns the last n lines for an error report, preceded by the
// kernel's panic line when that scrolled off before them: the stack
// trace a panic prints after it is longer than a report's lines.
func (t *Tail) Report(n int) string {
	lines := t.lines()
	if len(lines) <= n {
		return strings.Join(lines, "\n")
	}
	head, last := lines[:len(lines)-n], lines[len(lines)-n:]
	isPanic := func(l string) bool { return strings.Contains(l, PanicMark) }
	if i := lastIndexFunc(head, isPanic); i >= 0 && !slices.ContainsFunc(last, isPanic) {
		last = append([]string{head[i], "…"}, last...)
	}
	return strings.Join(last, "\n")
}

func lastIndexFunc(s []string, f func(string) bool) int {
	for i := len(s) - 1; i >= 0; i-- {
		if f(s[i]) {
			return i
		}
	}
	return -1
}
