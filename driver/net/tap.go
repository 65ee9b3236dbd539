package conet

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
)

// ErrTAP is a TAP device corun cannot use.
var ErrTAP = errors.New("TAP device")

// TAP is a host TAP device a guest interface is plugged into. Its host
// side — an address for a host-only network, or a bridge — is the
// user's to configure, as with coLinux's tuntap.
type TAP struct {
	Name    string
	created bool // corun made it, so Close removes it
}

// TAPName is the device corun creates for ethN of an instance when the
// configuration names none: "co" and as much of the instance name as
// fits the kernel's 15 characters.
func TAPName(instance string, n int) string {
	suffix := fmt.Sprintf("-%d", n)
	if room := 15 - len("co") - len(suffix); len(instance) > room {
		instance = instance[:room]
	}
	return "co" + instance + suffix
}

// OpenTAP brings up the TAP device name for a guest kernel running as
// uid: an existing one as it is (say, a port of a bridge the user set
// up), or a new persistent one, owned by uid, that Close removes.
// Creating a device needs CAP_NET_ADMIN; a kernel without it (a
// confined one, uid not 0) can only attach to a device it owns.
func OpenTAP(name string, uid int) (*TAP, error) {
	t := &TAP{Name: name}
	link, err := netlink.LinkByName(name)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if !errors.As(err, &notFound) {
			return nil, fmt.Errorf("%w %s: %v", ErrTAP, name, err)
		}
		tt := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: name}, Mode: netlink.TUNTAP_MODE_TAP, Owner: uint32(uid), Group: uint32(uid)}
		if err := netlink.LinkAdd(tt); err != nil {
			return nil, fmt.Errorf("%w %s: cannot create it (root needed): %v", ErrTAP, name, err)
		}
		t.created, link = true, tt
	} else if tt, ok := link.(*netlink.Tuntap); !ok || tt.Mode != netlink.TUNTAP_MODE_TAP {
		return nil, fmt.Errorf("%w %s: it exists and is a %s device, not a TAP", ErrTAP, name, link.Type())
	} else if uid != 0 && tt.Owner != uint32(uid) {
		return nil, fmt.Errorf("%w %s: the confined guest kernel runs as uid %d and cannot attach to it; "+
			"give it that owner (ip tuntap add dev %s mode tap user %d) or let corun create it", ErrTAP, name, uid, name, uid)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		t.Close()
		return nil, fmt.Errorf("%w %s: %v", ErrTAP, name, err)
	}
	return t, nil
}

// Close removes the device if corun created it.
func (t *TAP) Close() error {
	if !t.created {
		return nil
	}
	if err := netlink.LinkDel(&netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: t.Name}}); err != nil {
		return fmt.Errorf("%w %s: remove: %v", ErrTAP, t.Name, err)
	}
	return nil
}
