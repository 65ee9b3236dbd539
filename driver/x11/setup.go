package x11

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// setup is a client's connection setup request, the first message on
// every X connection:
//
//	byte-order 'B' or 'l', unused, protocol-major, protocol-minor (CARD16),
//	name length n, data length d (CARD16), unused (2 bytes),
//	name (n bytes, padded to 4), data (d bytes, padded to 4)
type setup struct {
	order        binary.ByteOrder
	major, minor uint16
	name         string
	data         []byte
}

var errSetup = errors.New("not an X connection setup request")

func pad4(n int) int { return (4 - n%4) % 4 }

// readSetup reads a setup request from r.
func readSetup(r io.Reader) (setup, error) {
	var h [12]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return setup{}, fmt.Errorf("%w: %v", errSetup, err)
	}
	var s setup
	switch h[0] {
	case 'B':
		s.order = binary.BigEndian
	case 'l':
		s.order = binary.LittleEndian
	default:
		return setup{}, fmt.Errorf("%w: byte order %#x", errSetup, h[0])
	}
	s.major, s.minor = s.order.Uint16(h[2:]), s.order.Uint16(h[4:])
	n, d := int(s.order.Uint16(h[6:])), int(s.order.Uint16(h[8:]))
	body := make([]byte, n+pad4(n)+d+pad4(d))
	if _, err := io.ReadFull(r, body); err != nil {
		return setup{}, fmt.Errorf("%w: %v", errSetup, err)
	}
	s.name = string(body[:n])
	s.data = body[n+pad4(n) : n+pad4(n)+d]
	return s, nil
}

// marshal encodes the request with another authorization.
func (s setup) marshal(name string, data []byte) []byte {
	b := make([]byte, 12, 12+len(name)+len(data)+6)
	if s.order == binary.BigEndian {
		b[0] = 'B'
	} else {
		b[0] = 'l'
	}
	s.order.PutUint16(b[2:], s.major)
	s.order.PutUint16(b[4:], s.minor)
	s.order.PutUint16(b[6:], uint16(len(name)))
	s.order.PutUint16(b[8:], uint16(len(data)))
	b = append(b, name...)
	b = append(b, make([]byte, pad4(len(name)))...)
	b = append(b, data...)
	return append(b, make([]byte, pad4(len(data)))...)
}

// refusal is the server's Failed reply to s carrying reason, which the
// client shows to its user.
func (s setup) refusal(reason string) []byte {
	if len(reason) > 255 {
		reason = reason[:255]
	}
	b := make([]byte, 8, 8+len(reason)+3)
	b[0] = 0 // Failed
	b[1] = byte(len(reason))
	s.order.PutUint16(b[2:], s.major)
	s.order.PutUint16(b[4:], s.minor)
	s.order.PutUint16(b[6:], uint16((len(reason)+pad4(len(reason)))/4))
	b = append(b, reason...)
	return append(b, make([]byte, pad4(len(reason)))...)
}
