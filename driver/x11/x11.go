// Package x11 offers the host's X display to a guest, as andLinux did for
// coLinux: the guest's X clients connect to the user-mode network's
// gateway (DISPLAY=10.0.2.2:N), and corun, which owns that network in
// process, carries each connection to the host's display socket. Nothing
// listens on a host port, and the guest kernel's process, confined or
// not, never touches the host's socket.
//
// Authorization works as ssh's X11 forwarding does. The guest gets a
// cookie of its own, fresh for every run, in an Xauthority file; a
// connection presenting it is sent on with the host's cookie for the
// display (read from the host's Xauthority) in its place, so the host's
// secret never enters the guest. Any other connection is refused by
// corun with an X protocol error. The host server's access control is
// left as it is: without a host cookie the connection goes on with none,
// and the host server decides.
package x11

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	conet "github.com/colinux-ng/colinux/driver/net"
	"github.com/colinux-ng/colinux/pkg/xauth"
	"github.com/colinux-ng/colinux/runtime/coinit"
	"github.com/colinux-ng/colinux/runtime/initramfs"
)

// Forwarder carries guest connections to one host display.
type Forwarder struct {
	Display Display
	// Log, if not nil, receives one line per connection that fails.
	Log io.Writer

	hostAuth xauth.Entry // Name "" when the host file has no cookie
	cookie   []byte      // the guest's
}

// setupTimeout bounds how long a guest connection may take to send its
// setup request.
const setupTimeout = 30 * time.Second

// New prepares forwarding to the display named by display (a $DISPLAY
// value) with the credentials of the Xauthority file at authFile (""
// or missing: none). It connects once, so that a display that is not
// there is an error now rather than in the guest.
func New(display, authFile string) (*Forwarder, error) {
	d, err := ParseDisplay(display)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.Dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot reach X display %s: %v", ErrNoDisplay, d, err)
	}
	family, addr := authAddress(c)
	c.Close()
	f := &Forwarder{Display: d, cookie: make([]byte, 16)}
	if _, err := rand.Read(f.cookie); err != nil {
		return nil, err
	}
	if authFile != "" {
		r, err := os.Open(authFile)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("x11: %w", err)
		}
		if err == nil {
			entries, err := xauth.Read(r)
			r.Close()
			if err != nil {
				return nil, fmt.Errorf("x11: %s: %w", authFile, err)
			}
			f.hostAuth, _ = xauth.Lookup(entries, family, addr, strconv.Itoa(d.Number), xauth.MITMagicCookie)
		}
	}
	return f, nil
}

// Port is the gateway's TCP port the guest's clients connect to.
func (f *Forwarder) Port() uint16 { return uint16(tcpBase + f.Display.Number) }

// HostCookie reports whether the host's Xauthority had a cookie for the
// display.
func (f *Forwarder) HostCookie() bool { return f.hostAuth.Name != "" }

// GuestDisplay is the guest's $DISPLAY: the display on the user-mode
// network's gateway.
func (f *Forwarder) GuestDisplay() string {
	return Display{Host: conet.Gateway, Number: f.Display.Number, Screen: f.Display.Screen}.String()
}

// Service is the gateway port a backend adds to the guest's user-mode
// network (the first one).
func (f *Forwarder) Service() conet.Service { return conet.Service{Port: f.Port(), Serve: f.Serve} }

// GuestFile is the guest's Xauthority file as the instance's initramfs
// carries it, where coinit looks for it: the guest's cookie stays off the
// kernel command line.
func (f *Forwarder) GuestFile() initramfs.File {
	return initramfs.File{Name: coinit.X11Authority, Data: f.guestAuthority(net.ParseIP(conet.Gateway))}
}

// Initramfs writes dest: the initramfs at base with GuestFile added.
func (f *Forwarder) Initramfs(dest, base string) error {
	return initramfs.Extend(dest, base, []initramfs.File{f.GuestFile()})
}

// guestAuthority is the guest's Xauthority file: its cookie for the
// gateway's address gw, as Xlib looks it up, and for any address, as
// clients that only know local and wild entries (Go's xgb) do.
func (f *Forwarder) guestAuthority(gw net.IP) []byte {
	num := strconv.Itoa(f.Display.Number)
	b, _ := xauth.Marshal([]xauth.Entry{
		{Family: xauth.FamilyInternet, Address: gw.To4(), Number: num, Name: xauth.MITMagicCookie, Data: f.cookie},
		{Family: xauth.FamilyWild, Number: num, Name: xauth.MITMagicCookie, Data: f.cookie},
	})
	return b
}

// Serve carries one guest connection to the host display and returns
// when either side is done.
func (f *Forwarder) Serve(guest net.Conn) {
	defer guest.Close()
	if err := f.serve(guest); err != nil && f.Log != nil {
		fmt.Fprintf(f.Log, "corun: x11: %v\n", err)
	}
}

func (f *Forwarder) serve(guest net.Conn) error {
	guest.SetReadDeadline(time.Now().Add(setupTimeout))
	s, err := readSetup(guest)
	if err != nil {
		return err
	}
	guest.SetReadDeadline(time.Time{})
	if s.name != xauth.MITMagicCookie || subtle.ConstantTimeCompare(s.data, f.cookie) != 1 {
		guest.Write(s.refusal("corun: the guest's X client did not present the cookie of its XAUTHORITY"))
		return errors.New("refused a guest connection without the guest's cookie")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	host, err := f.Display.Dial(ctx)
	cancel()
	if err != nil {
		guest.Write(s.refusal("corun: cannot reach the host's X display"))
		return fmt.Errorf("display %s: %w", f.Display, err)
	}
	defer host.Close()
	if _, err := host.Write(s.marshal(f.hostAuth.Name, f.hostAuth.Data)); err != nil {
		return err
	}
	splice(guest, host)
	return nil
}

// splice copies both ways until both directions ended, passing a
// half-close on.
func splice(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	half := func(dst, src net.Conn) {
		defer wg.Done()
		io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			dst.Close()
		}
	}
	go half(a, b)
	go half(b, a)
	wg.Wait()
}
