// Package console carries the guest console: a tail of recent output for
// error reports and late attachers, and attach/detach over a unix socket.
package console

import (
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
	s := strings.ReplaceAll(string(t.Bytes()), "\r", "")
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
