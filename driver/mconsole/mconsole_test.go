package mconsole

import (
	"context"
	"encoding/binary"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeUML answers each request on a unixgram socket at path with the
// parts reply returns for it.
func fakeUML(t *testing.T, path string, reply func(send func(code, more uint32, data string) error)) {
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Net: "unixgram", Name: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, hdrLen+maxData)
		for {
			_, from, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			reply(func(code, more uint32, data string) error {
				msg := make([]byte, hdrLen+len(data))
				binary.NativeEndian.PutUint32(msg[0:], code)
				binary.NativeEndian.PutUint32(msg[4:], more)
				binary.NativeEndian.PutUint32(msg[8:], uint32(len(data)))
				copy(msg[hdrLen:], data)
				_, err := conn.WriteToUnix(msg, from)
				return err
			})
		}
	}()
}

func TestDo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mconsole")
	fakeUML(t, path, func(send func(code, more uint32, data string) error) {
		send(0, 1, "Linux ")
		send(0, 0, "6.1.0\n")
	})
	got, err := Do(context.Background(), path, "version")
	if err != nil || got != "Linux 6.1.0" {
		t.Fatalf("Do = %q, %v", got, err)
	}
}

// A kernel that never ends its reply must not grow corun's memory until
// the timeout.
func TestDoEndlessReply(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mconsole")
	part := strings.Repeat("x", maxData)
	fakeUML(t, path, func(send func(code, more uint32, data string) error) {
		for send(0, 1, part) == nil {
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := Do(ctx, path, "version")
	if err == nil || !strings.Contains(err.Error(), "reply longer than") {
		t.Fatalf("endless reply: %v", err)
	}
}
