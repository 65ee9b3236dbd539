package initramfs

import (
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// cpioWriter writes the "newc" (SVR4, no checksum) cpio format, the one
// the Linux kernel unpacks into its initial rootfs.
type cpioWriter struct {
	w   io.Writer
	ino uint32
	err error
}

// Mode bits of the cpio header, as in <sys/stat.h>.
const (
	modeDir = 0o040000
	modeReg = 0o100000
	modeChr = 0o020000
)

// entry writes one header, name and body. The kernel needs nothing but
// name, mode, size and (for device nodes) rdev; owner is root, times zero,
// so that the same inputs give the same bytes.
func (c *cpioWriter) entry(name string, mode uint32, body []byte, rdevMajor, rdevMinor uint32) {
	if c.err != nil {
		return
	}
	name = strings.TrimPrefix(name, "/")
	c.ino++
	nlink := uint32(1)
	if mode&0o170000 == modeDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, nlink, 0, len(body), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	c.write([]byte(hdr))
	c.write([]byte(name + "\x00"))
	c.pad(len(hdr) + len(name) + 1)
	c.write(body)
	c.pad(len(body))
}

func (c *cpioWriter) write(b []byte) {
	if c.err == nil {
		_, c.err = c.w.Write(b)
	}
}

// pad aligns the stream to 4 bytes after n bytes of a record part.
func (c *cpioWriter) pad(n int) {
	if r := n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

func (c *cpioWriter) dir(name string) { c.entry(name, modeDir|0o755, nil, 0, 0) }

func (c *cpioWriter) file(name string, perm fs.FileMode, body []byte) {
	c.entry(name, modeReg|uint32(perm.Perm()), body, 0, 0)
}

func (c *cpioWriter) charDev(name string, major, minor uint32) {
	c.entry(name, modeChr|0o600, nil, major, minor)
}

// close writes the trailer record and returns the first write error.
func (c *cpioWriter) close() error {
	c.entry("TRAILER!!!", 0, nil, 0, 0)
	return c.err
}
