package qmp

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/colinux-ng/colinux/internal/testutil"
)

// startQEMU runs a QEMU with no machine, serving QMP on two sockets.
func startQEMU(t *testing.T) (cmdSock, eventSock string, exited <-chan struct{}) {
	t.Helper()
	qemu := testutil.RequireTool(t, "qemu-system-x86_64")
	dir := t.TempDir()
	cmdSock, eventSock = filepath.Join(dir, "qmp.sock"), filepath.Join(dir, "events.sock")
	cmd := exec.Command(qemu, "-machine", "none", "-nodefaults", "-display", "none",
		"-qmp", "unix:"+cmdSock+",server=on,wait=off", "-qmp", "unix:"+eventSock+",server=on,wait=off")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	return cmdSock, eventSock, done
}

// dial retries until QEMU listens.
func dial(t *testing.T, path string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		c, err := Dial(ctx, path)
		if err == nil {
			t.Cleanup(func() { c.Close() })
			return c
		}
		if ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRealQEMU talks to QEMU itself: status, an error reply, and quit
// seen as the SHUTDOWN event and the end of the event connection.
func TestRealQEMU(t *testing.T) {
	cmdSock, eventSock, exited := startQEMU(t)
	ev := dial(t, eventSock)
	c := dial(t, cmdSock)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.QueryStatus(ctx)
	if err != nil || st.Status == "" {
		t.Fatalf("query-status = %+v, %v", st, err)
	}
	_, err = c.Execute(ctx, "no-such-command", nil)
	var qe *Error
	if !errors.As(err, &qe) || qe.Class != "CommandNotFound" {
		t.Fatalf("unknown command: %v, want a CommandNotFound error", err)
	}
	// QEMU serves one client a socket: a second waits, unanswered.
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = Do(short, cmdSock, "query-version", nil)
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second client on a busy QMP socket: %v, want no answer", err)
	}
	if _, err := c.Execute(ctx, "quit", nil); err != nil && !strings.Contains(err.Error(), "closed") {
		t.Fatalf("quit: %v", err)
	}
	var names []string
	for m := range ev.Events() {
		names = append(names, m.Event)
	}
	if len(names) == 0 || names[len(names)-1] != "SHUTDOWN" {
		t.Fatalf("events before EOF: %v, want SHUTDOWN last", names)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("QEMU still runs after quit")
	}
}

// TestNotQMP: a server that does not greet is refused with ErrFormat.
func TestNotQMP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		conn, err := l.Accept()
		if err == nil {
			conn.Write([]byte(`{"return": {}}` + "\n"))
			time.Sleep(time.Second)
			conn.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Dial(ctx, path); !errors.Is(err, ErrFormat) {
		t.Fatalf("Dial = %v, want ErrFormat", err)
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{"QMP": {"version": {}, "capabilities": []}}`, true},
		{`{"return": {}, "id": "1"}`, true},
		{`{"error": {"class": "GenericError", "desc": "x"}}`, true},
		{`{"event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-shutdown"}, "timestamp": {}}`, true},
		{`{"error": {"desc": "x"}}`, false},
		{`{"return": {}, "event": "STOP"}`, false},
		{`{}`, false},
		{`[1]`, false},
		{`{"return"`, false},
	} {
		_, err := Decode([]byte(tc.in))
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrFormat)) {
			t.Errorf("Decode(%s) = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": ["oob"]}}`,
		`{"return": {"running": true, "status": "running"}, "id": "3"}`,
		`{"event": "GUEST_PANICKED", "data": {"action": "pause", "info": {"type": "hyper-v"}}, "timestamp": {"seconds": 1, "microseconds": 2}}`,
		`{"error": {"class": "CommandNotFound", "desc": "The command x has not been found"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error without ErrFormat: %v", err)
			}
			return
		}
		if m.Error != nil && m.Error.Class == "" {
			t.Fatal("accepted an error without class")
		}
	})
}
