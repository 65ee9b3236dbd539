// Package qmp is a client of the QEMU Machine Protocol: JSON objects over
// a unix socket, one per line. After the greeting and qmp_capabilities the
// server sends replies ({"return":…} or {"error":…}) to commands in order
// and events ({"event":…}) whenever they happen. QEMU serves one client
// per socket at a time, so the QEMU backend opens two: one the supervisor
// holds for the guest's life to watch events, one for commands.
package qmp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ErrFormat means the server sent something that is not QMP.
var ErrFormat = errors.New("qmp: malformed message")

// maxMessage bounds one line from the server; QMP's largest replies
// (query-qmp-schema) stay well below.
const maxMessage = 4 << 20

// Message is one object from the server: exactly one of Return, Error,
// Event and Greeting is set.
type Message struct {
	Return   json.RawMessage `json:"return,omitempty"`
	Error    *Error          `json:"error,omitempty"`
	Event    string          `json:"event,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
	Greeting json.RawMessage `json:"QMP,omitempty"`
	ID       json.RawMessage `json:"id,omitempty"` // a reply's copy of its command's id
}

// Error is a command's failure as QEMU reports it.
type Error struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
}

func (e *Error) Error() string { return "qmp: " + e.Class + ": " + e.Desc }

// Decode reads one server message from a line.
func Decode(line []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(line, &m); err != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	kinds := 0
	for _, set := range []bool{m.Return != nil, m.Error != nil, m.Event != "", m.Greeting != nil} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return Message{}, fmt.Errorf("%w: want one of return, error, event, QMP in %.80q", ErrFormat, line)
	}
	if m.Error != nil && m.Error.Class == "" {
		return Message{}, fmt.Errorf("%w: error without class", ErrFormat)
	}
	return m, nil
}

// Client is one QMP connection. Commands may be issued from one goroutine
// at a time; events go to the Events channel.
type Client struct {
	conn    net.Conn
	replies chan Message
	events  chan Message
	done    chan struct{}
	err     error // why the connection ended; read after done is closed
	mu      sync.Mutex
	lastID  int
}

// Dial connects to the QMP socket at path, reads the greeting and
// negotiates capabilities.
func Dial(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("qmp: %w", err)
	}
	return NewClient(ctx, conn)
}

// NewClient speaks QMP on conn, an open connection to QEMU's monitor (one
// end of a socket pair, say): it reads the greeting and negotiates
// capabilities. The client owns conn; on failure it is closed.
func NewClient(ctx context.Context, conn net.Conn) (*Client, error) {
	var err error
	c := &Client{conn: conn, replies: make(chan Message, 16), events: make(chan Message, 64), done: make(chan struct{})}
	greeting := make(chan error, 1)
	go c.read(greeting)
	select {
	case err = <-greeting:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err == nil {
		_, err = c.Execute(ctx, "qmp_capabilities", nil)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// read delivers messages until the connection ends. Events are dropped
// when nobody reads them and the buffer is full: they are notices, and a
// stalled reader must not block the replies. Replies carry their
// command's id, so one to a command that timed out is told apart.
func (c *Client) read(greeting chan<- error) {
	defer close(c.done)
	defer close(c.events)
	sc := bufio.NewScanner(c.conn)
	sc.Buffer(make([]byte, 64<<10), maxMessage)
	first := true
	for sc.Scan() {
		m, err := Decode(sc.Bytes())
		if first {
			first = false
			if err == nil && m.Greeting == nil {
				err = fmt.Errorf("%w: no greeting", ErrFormat)
			}
			greeting <- err
			if err != nil {
				c.err = err
				return
			}
			continue
		}
		if err != nil {
			c.err = err
			return
		}
		ch := c.replies
		if m.Event != "" {
			ch = c.events
		}
		select {
		case ch <- m:
		default: // an event nobody reads, a reply nobody waits for
		}
	}
	c.err = sc.Err()
	switch {
	case c.err == nil:
		c.err = ErrClosed
	case errors.Is(c.err, syscall.ECONNRESET):
		// QEMU exiting (quit) with our last bytes unread resets the
		// connection instead of ending it: closed all the same.
		c.err = fmt.Errorf("%w: %w", ErrClosed, c.err)
	}
	if first {
		greeting <- c.err
	}
}

// ErrClosed means QEMU closed the connection (it quit, say).
var ErrClosed = errors.New("qmp: connection closed")

// Events delivers the server's events; it is closed when the connection
// ends (QEMU exited, or Close).
func (c *Client) Events() <-chan Message { return c.events }

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Execute runs a command and returns its "return" value.
func (c *Client) Execute(ctx context.Context, command string, args any) (json.RawMessage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastID++
	id := strconv.Itoa(c.lastID)
	req := map[string]any{"execute": command, "id": id}
	if args != nil {
		req["arguments"] = args
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.conn.SetWriteDeadline(dl)
		defer c.conn.SetWriteDeadline(time.Time{})
	}
	if _, err := c.conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("qmp: %s: %w", command, err)
	}
	for {
		select {
		case m := <-c.replies:
			if string(m.ID) != strconv.Quote(id) {
				continue // the late reply to an abandoned command
			}
			if m.Error != nil {
				return nil, fmt.Errorf("%s: %w", command, m.Error)
			}
			return m.Return, nil
		case <-c.done:
			return nil, fmt.Errorf("qmp: %s: %w", command, c.err)
		case <-ctx.Done():
			return nil, fmt.Errorf("qmp: %s: %w", command, ctx.Err())
		}
	}
}

// Close ends the connection.
func (c *Client) Close() error {
	err := c.conn.Close()
	<-c.done
	return err
}

// Do dials path, runs one command and hangs up: for short-lived callers
// such as corun stop.
func Do(ctx context.Context, path, command string, args any) (json.RawMessage, error) {
	c, err := Dial(ctx, path)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Execute(ctx, command, args)
}

// Status is the answer to query-status.
type Status struct {
	Running bool   `json:"running"`
	Status  string `json:"status"` // "running", "paused", "shutdown", "guest-panicked", …
}

// QueryStatus asks for the VM's run state.
func (c *Client) QueryStatus(ctx context.Context) (Status, error) {
	raw, err := c.Execute(ctx, "query-status", nil)
	if err != nil {
		return Status{}, err
	}
	var s Status
	if err := json.Unmarshal(raw, &s); err != nil {
		return Status{}, fmt.Errorf("%w: query-status: %v", ErrFormat, err)
	}
	return s, nil
}
