// Package mconsole is a client for User-mode Linux's management console:
// datagrams over the unix socket UML creates at <uml_dir>/<umid>/mconsole,
// in the format of arch/um/include/shared/mconsole.h (host byte order).
package mconsole

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

const (
	magic   = 0xcafebabe
	version = 2
	maxData = 512
	hdrLen  = 12 // three u32 fields before the data, in requests and replies
)

// ErrCommand is a request the guest kernel refused; the error text is UML's.
var ErrCommand = errors.New("mconsole")

// DefaultTimeout bounds one request when ctx has no deadline.
const DefaultTimeout = 5 * time.Second

var clientSeq atomic.Uint64

// Do sends one request — "version", "cad", "halt", "sysrq s",
// "config ubd1=file" and so on — to the mconsole socket at path and
// returns UML's reply.
func Do(ctx context.Context, path, request string) (string, error) {
	if len(request) >= maxData {
		return "", fmt.Errorf("mconsole request of %d bytes is too long", len(request))
	}
	// The reply goes to the sender's address, so the client socket needs
	// one; an abstract name leaves nothing behind in the filesystem.
	local := &net.UnixAddr{Net: "unixgram",
		Name: fmt.Sprintf("@corun-mconsole-%d-%d", os.Getpid(), clientSeq.Add(1))}
	conn, err := net.ListenUnixgram("unixgram", local)
	if err != nil {
		return "", fmt.Errorf("mconsole: %w", err)
	}
	defer conn.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(DefaultTimeout)
	}
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	req := make([]byte, hdrLen+maxData)
	binary.NativeEndian.PutUint32(req[0:], magic)
	binary.NativeEndian.PutUint32(req[4:], version)
	binary.NativeEndian.PutUint32(req[8:], uint32(len(request)))
	copy(req[hdrLen:], request)
	if _, err := conn.WriteToUnix(req, &net.UnixAddr{Net: "unixgram", Name: path}); err != nil {
		return "", fmt.Errorf("mconsole %s: %w", path, err)
	}
	var out bytes.Buffer
	buf := make([]byte, hdrLen+maxData)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return "", fmt.Errorf("mconsole %s: %q: %w", path, request, err)
		}
		if n < hdrLen {
			return "", fmt.Errorf("mconsole %s: short reply of %d bytes", path, n)
		}
		code := binary.NativeEndian.Uint32(buf[0:])
		more := binary.NativeEndian.Uint32(buf[4:])
		size := int(binary.NativeEndian.Uint32(buf[8:]))
		if size > n-hdrLen {
			size = n - hdrLen
		}
		out.Write(bytes.TrimRight(buf[hdrLen:hdrLen+size], "\x00"))
		if more == 0 {
			reply := strings.TrimRight(out.String(), "\n")
			if code != 0 {
				return "", fmt.Errorf("%w: %q: %s", ErrCommand, request, reply)
			}
			return reply, nil
		}
	}
}
