package x11

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/colinux-ng/colinux/pkg/xauth"
)

// Display is an X display as $DISPLAY names it: [HOST]:NUMBER[.SCREEN].
type Display struct {
	// Host is "" or "unix" for the local server's socket, otherwise a
	// host name or address reached over TCP.
	Host   string
	Number int
	Screen int
}

// ErrNoDisplay is returned when there is no display to forward.
var ErrNoDisplay = errors.New("x11: no host display")

// tcpBase is the first X server port: display N listens on tcpBase+N.
const tcpBase = 6000

// socketDir holds the local servers' sockets, XN for display N; Linux
// servers listen on the same path in the abstract namespace too.
const socketDir = "/tmp/.X11-unix"

// ParseDisplay reads a $DISPLAY value: ":0", ":1.0", "unix:0",
// "host:10", "10.0.0.5:0.1", "[fe80::1]:0".
func ParseDisplay(s string) (Display, error) {
	if s == "" {
		return Display{}, fmt.Errorf("%w: $DISPLAY is not set", ErrNoDisplay)
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return Display{}, fmt.Errorf("x11: DISPLAY=%q: no display number after a colon", s)
	}
	host, rest := s[:i], s[i+1:]
	if strings.HasSuffix(host, ":") {
		return Display{}, fmt.Errorf("x11: DISPLAY=%q: DECnet displays are not supported", s)
	}
	if strings.HasPrefix(host, "/") || strings.Contains(host, "/") {
		return Display{}, fmt.Errorf("x11: DISPLAY=%q: socket paths and protocol prefixes are not supported", s)
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	num, screen, hasScreen := strings.Cut(rest, ".")
	d := Display{Host: host}
	var err error
	if d.Number, err = strconv.Atoi(num); err != nil || d.Number < 0 || d.Number > 0xffff-tcpBase || num != strconv.Itoa(d.Number) {
		return Display{}, fmt.Errorf("x11: DISPLAY=%q: bad display number %q", s, num)
	}
	if hasScreen {
		if d.Screen, err = strconv.Atoi(screen); err != nil || d.Screen < 0 || d.Screen > 255 {
			return Display{}, fmt.Errorf("x11: DISPLAY=%q: bad screen number %q", s, screen)
		}
	}
	return d, nil
}

func (d Display) String() string {
	s := fmt.Sprintf(":%d", d.Number)
	if strings.Contains(d.Host, ":") {
		s = "[" + d.Host + "]" + s
	} else {
		s = d.Host + s
	}
	if d.Screen != 0 {
		s += "." + strconv.Itoa(d.Screen)
	}
	return s
}

func (d Display) local() bool { return d.Host == "" || d.Host == "unix" }

// Dial connects to the display's server the way libxcb does: a local
// display through its socket, then the abstract socket of the same name,
// then (for ":N" only) TCP on localhost; any other host over TCP.
func (d Display) Dial(ctx context.Context) (net.Conn, error) {
	var dialer net.Dialer
	tcp := net.JoinHostPort(d.Host, strconv.Itoa(tcpBase+d.Number))
	if !d.local() {
		return dialer.DialContext(ctx, "tcp", tcp)
	}
	path := fmt.Sprintf("%s/X%d", socketDir, d.Number)
	var errs []error
	for _, addr := range []string{path, "@" + path} {
		c, err := dialer.DialContext(ctx, "unix", addr)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	if d.Host == "" {
		c, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort("localhost", strconv.Itoa(tcpBase+d.Number)))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// authAddress is the Xauthority family and address a client looks the
// cookie up by once connected over c, as libxcb does: the host name for a
// local socket or a loopback connection, else the server's IP address.
func authAddress(c net.Conn) (xauth.Family, []byte) {
	if tcp, ok := c.RemoteAddr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
		if ip4 := tcp.IP.To4(); ip4 != nil {
			return xauth.FamilyInternet, ip4
		}
		return xauth.FamilyInternet6, tcp.IP.To16()
	}
	host, _ := os.Hostname()
	return xauth.FamilyLocal, []byte(host)
}

// AuthorityFile is the host's Xauthority file: $XAUTHORITY, else
// ~/.Xauthority.
func AuthorityFile() string {
	if p := os.Getenv("XAUTHORITY"); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return home + "/.Xauthority"
}
