// Package xauth reads and writes Xauthority files, the list of X display
// credentials that libXau, xauth(1) and every X client keep in
// $XAUTHORITY or ~/.Xauthority.
//
// The file is a plain sequence of entries, each
//
//	family  uint16 big-endian
//	address, number, name, data: uint16 big-endian length, then bytes
//
// with no header and no trailer. Number is the display number in decimal
// ("0" for :0); name is the authorization protocol, MIT-MAGIC-COOKIE-1 in
// practice, and data its secret.
package xauth

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Family is the kind of address an entry applies to (X11/Xauth.h).
type Family uint16

const (
	FamilyInternet  Family = 0      // Address: 4 bytes of IPv4
	FamilyInternet6 Family = 6      // Address: 16 bytes of IPv6
	FamilyLocal     Family = 256    // Address: the host name; unix sockets
	FamilyWild      Family = 0xffff // any address
)

// MITMagicCookie is the name of the only protocol X servers use today.
const MITMagicCookie = "MIT-MAGIC-COOKIE-1"

// Entry is one credential.
type Entry struct {
	Family  Family
	Address []byte
	Number  string // display number; "" matches every display
	Name    string
	Data    []byte
}

// ErrFormat is returned for a file that is not a sequence of entries.
var ErrFormat = errors.New("xauth: malformed Xauthority file")

// MaxFileSize bounds what Read accepts; real files are a few hundred bytes
// per display.
const MaxFileSize = 4 << 20

// Read parses a whole Xauthority file.
func Read(r io.Reader) ([]Entry, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrFormat, MaxFileSize)
	}
	return Parse(b)
}

// Parse decodes the entries of an Xauthority file held in b.
func Parse(b []byte) ([]Entry, error) {
	var entries []Entry
	for off := 0; off < len(b); {
		start := off
		field := func() ([]byte, error) {
			if len(b)-off < 2 {
				return nil, fmt.Errorf("%w: entry at offset %d is cut short", ErrFormat, start)
			}
			n := int(binary.BigEndian.Uint16(b[off:]))
			off += 2
			if len(b)-off < n {
				return nil, fmt.Errorf("%w: entry at offset %d is cut short", ErrFormat, start)
			}
			f := bytes.Clone(b[off : off+n])
			off += n
			return f, nil
		}
		if len(b)-off < 2 {
			return nil, fmt.Errorf("%w: entry at offset %d is cut short", ErrFormat, start)
		}
		e := Entry{Family: Family(binary.BigEndian.Uint16(b[off:]))}
		off += 2
		var fields [4][]byte
		for i := range fields {
			f, err := field()
			if err != nil {
				return nil, err
			}
			fields[i] = f
		}
		e.Address, e.Number, e.Name, e.Data = fields[0], string(fields[1]), string(fields[2]), fields[3]
		entries = append(entries, e)
	}
	return entries, nil
}

// Marshal encodes entries as an Xauthority file. A field longer than
// 65535 bytes cannot be written.
func Marshal(entries []Entry) ([]byte, error) {
	var b []byte
	for _, e := range entries {
		b = binary.BigEndian.AppendUint16(b, uint16(e.Family))
		for _, f := range [][]byte{e.Address, []byte(e.Number), []byte(e.Name), e.Data} {
			if len(f) > 0xffff {
				return nil, fmt.Errorf("xauth: field of %d bytes is too long", len(f))
			}
			b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
			b = append(b, f...)
		}
	}
	return b, nil
}

// Lookup returns the first entry of the protocol name for display number
// reached at an address of the given family, the way libXau's
// XauGetBestAuthByAddr chooses: a wild entry matches every address, an
// entry without a number every display.
func Lookup(entries []Entry, family Family, address []byte, number, name string) (Entry, bool) {
	for _, e := range entries {
		if e.Name != name || (e.Number != "" && e.Number != number) {
			continue
		}
		if e.Family == FamilyWild || (e.Family == family && bytes.Equal(e.Address, address)) {
			return e, true
		}
	}
	return Entry{}, false
}
