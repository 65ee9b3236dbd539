package console

import (
	"io"
	"net"
	"sync"
)

// Server shares a guest console with clients on a unix socket: what the
// guest writes goes to every client (a newcomer first gets the recent
// output), and what any client types goes to the guest.
type Server struct {
	ln     net.Listener
	recent *Tail
	input  *io.PipeWriter
	// Input is the keyboard side for the monitor to read.
	Input io.Reader

	mu    sync.Mutex
	conns map[net.Conn]bool
}

// recentBytes replayed to a client on connect: about a screenful.
const recentBytes = 4 << 10

// Listen serves the console at path.
func Listen(path string) (*Server, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	r, w := io.Pipe()
	s := &Server{ln: ln, recent: NewTail(recentBytes), input: w, Input: r, conns: map[net.Conn]bool{}}
	go s.accept()
	return s, nil
}

func (s *Server) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		c.Write(s.recent.Bytes())
		s.conns[c] = true
		s.mu.Unlock()
		go func() {
			io.Copy(s.input, c)
			s.drop(c)
		}()
	}
}

func (s *Server) drop(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

// Write sends guest output to every client.
func (s *Server) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recent.Write(p)
	for c := range s.conns {
		if _, err := c.Write(p); err != nil {
			delete(s.conns, c)
			c.Close()
		}
	}
	return len(p), nil
}

// Close stops serving and disconnects every client.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.input.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	return err
}
