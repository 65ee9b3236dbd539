package console

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"

	"golang.org/x/term"
)

// DetachKey is Ctrl-], as in telnet and virsh console.
const DetachKey = 0x1d

// ErrDetached is returned by Attach when the user pressed DetachKey.
var ErrDetached = errors.New("detached")

// Attach connects the terminal to the console served at path, in raw mode
// when in is a terminal, until the guest ends (nil) or the user detaches
// (ErrDetached).
func Attach(path string, in *os.File, out io.Writer) error {
	c, err := net.Dial("unix", path)
	if err != nil {
		return err
	}
	defer c.Close()
	if term.IsTerminal(int(in.Fd())) {
		state, err := term.MakeRaw(int(in.Fd()))
		if err != nil {
			return err
		}
		defer term.Restore(int(in.Fd()), state)
	}
	ended := make(chan error, 2)
	go func() {
		_, err := io.Copy(out, c)
		ended <- err
	}()
	go func() {
		buf := make([]byte, 256)
		for {
			n, err := in.Read(buf)
			if i := bytes.IndexByte(buf[:n], DetachKey); i >= 0 {
				c.Write(buf[:i])
				ended <- ErrDetached
				return
			}
			if _, werr := c.Write(buf[:n]); werr != nil || err != nil {
				return // keyboard gone: keep showing output until the guest ends
			}
		}
	}()
	return <-ended
}
