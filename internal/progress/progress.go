// Package progress draws a progress bar on stderr when stderr is a
// terminal and stays quiet otherwise, so logs and pipes get no escape codes.
package progress

import (
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Bar counts bytes of long work. The zero-cost quiet Bar is returned when
// stderr is not a terminal; Add is safe for concurrent use either way.
type Bar struct {
	bar *progressbar.ProgressBar
}

// New starts a bar for total bytes, labelled with what is being done.
func New(total int64, what string) *Bar {
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		return &Bar{}
	}
	return &Bar{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(100_000_000), // 100 ms between redraws
		progressbar.OptionClearOnFinish(),
	)}
}

// Add records n more bytes done.
func (b *Bar) Add(n int64) {
	if b.bar != nil {
		b.bar.Add64(n)
	}
}

// Done removes the bar from the terminal.
func (b *Bar) Done() {
	if b.bar != nil {
		b.bar.Finish()
	}
}
