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
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	magic   = 0xcafebabe
	version = 2
	maxData = 512
	hdrLen  = 12 // three u32 fields before the data, in requests and replies
	// maxReply bounds a reply's parts together: the kernel may be
	// hostile, and UML's longest replies (config, proc) are far smaller.
	maxReply = 1 << 20
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
	// one: a path beside UML's socket, where a confined kernel may send
	// (Landlock keeps it from abstract sockets outside its sandbox). The
	// name is short, to stay within the limit of socket paths.
	local := &net.UnixAddr{Net: "unixgram", Name: filepath.Join(filepath.Dir(path),
		"c"+strconv.FormatUint(uint64(os.Getpid())<<20|clientSeq.Add(1)&0xfffff, 36))}
	conn, err := net.ListenUnixgram("unixgram", local)
	if err != nil {
		return "", fmt.Errorf("mconsole: %w", err)
	}
	defer os.Remove(local.Name)
	defer conn.Close()
	if err := giveToDir(local.Name); err != nil {
		return "", fmt.Errorf("mconsole: %w", err)
	}
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
		if out.Len() > maxReply {
			return "", fmt.Errorf("mconsole %s: %q: reply longer than %d bytes", path, request, maxReply)
		}
		if more == 0 {
			reply := strings.TrimRight(out.String(), "\n")
			if code != 0 {
				return "", fmt.Errorf("%w: %q: %s", ErrCommand, request, reply)
			}
			return reply, nil
		}
	}
}

// giveToDir makes the socket at path writable by the kernel, which may
// run as another user (the owner of the directory UML made), seeing it
// through an idmapped mount that refuses writes to files of users it
// does not map.
func giveToDir(path string) error {
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	fi, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || (int(st.Uid) == os.Geteuid() && int(st.Gid) == os.Getegid()) {
		return nil
	}
	return os.Lchown(path, int(st.Uid), int(st.Gid))
}
