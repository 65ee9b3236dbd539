package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// NetMode is how an ethN interface reaches the host.
type NetMode string

const (
	// Slirp is the user-mode NAT inside corun: no privileges needed.
	Slirp NetMode = "slirp"
	// TAP is a host TAP device: needs root (CAP_NET_ADMIN).
	TAP NetMode = "tuntap"
)

// NIC is an ethN network interface.
type NIC struct {
	Index    int
	Mode     NetMode
	MAC      net.HardwareAddr // nil: derived from the instance name
	Device   string           // TAP: the host interface; "" lets corun pick one
	Forwards []Forward        // Slirp: host ports published to the guest
}

// Forward publishes a host port to a guest port.
type Forward struct {
	Proto     string // "tcp" or "udp"
	HostAddr  string // "" means 127.0.0.1
	HostPort  int
	GuestPort int
}

// Listen is the host address to listen on: loopback unless HostAddr
// says otherwise, so a guest's services are not exposed by accident.
func (f Forward) Listen() string {
	addr := f.HostAddr
	if addr == "" {
		addr = "127.0.0.1"
	}
	return net.JoinHostPort(addr, strconv.Itoa(f.HostPort))
}

func (f Forward) String() string { return fmt.Sprintf("%s->%d/%s", f.Listen(), f.GuestPort, f.Proto) }

// parseNIC reads coLinux's ethN values:
//
//	slirp[,MAC][,tcp:HOST:GUEST[:COUNT]/udp:HOST:GUEST…]
//	tuntap[,IFNAME][,MAC]
//
// The MAC of slirp may be left out altogether: "slirp,tcp:8080:80".
func parseNIC(n int, value string) (NIC, error) {
	parts := strings.Split(value, ",")
	nic := NIC{Index: n, Mode: NetMode(parts[0])}
	if len(parts) > 3 {
		return nic, fmt.Errorf("eth%d: too many fields", n)
	}
	field := func(i int) string { // coLinux's documentation quotes names
		if i < len(parts) {
			return strings.Trim(strings.TrimSpace(parts[i]), `"`)
		}
		return ""
	}
	var mac string
	switch nic.Mode {
	case Slirp:
		mac = field(1)
		redirects := field(2)
		if isRedirect(mac) {
			if len(parts) > 2 {
				return nic, fmt.Errorf("eth%d: port forwards come last: slirp[,MAC][,tcp:HOST:GUEST/…]", n)
			}
			mac, redirects = "", mac
		}
		if r := redirects; r != "" {
			for _, spec := range strings.Split(r, "/") {
				fw, err := parseRedirect(spec)
				if err != nil {
					return nic, fmt.Errorf("eth%d: %w", n, err)
				}
				nic.Forwards = append(nic.Forwards, fw...)
			}
		}
	case TAP:
		nic.Device, mac = field(1), field(2)
		if len(nic.Device) > 15 || strings.ContainsAny(nic.Device, "/ ") {
			return nic, fmt.Errorf("eth%d: %q is not a network interface name", n, nic.Device)
		}
	default:
		return nic, fmt.Errorf("eth%d: unknown network mode %q (want slirp or tuntap)", n, parts[0])
	}
	if mac != "" {
		hw, err := net.ParseMAC(mac)
		if err != nil || len(hw) != 6 {
			return nic, fmt.Errorf("eth%d: bad MAC address %q", n, mac)
		}
		if hw[0]&1 != 0 {
			return nic, fmt.Errorf("eth%d: %s is a multicast address", n, mac)
		}
		nic.MAC = hw
	}
	return nic, nil
}

// isRedirect tells a port forward list from a MAC address: a MAC never
// starts with a protocol name.
func isRedirect(s string) bool {
	return strings.HasPrefix(s, "tcp:") || strings.HasPrefix(s, "udp:")
}

// parseRedirect reads coLinux's "tcp:HOST:GUEST[:COUNT]": COUNT
// consecutive ports from HOST and GUEST on.
func parseRedirect(s string) ([]Forward, error) {
	f := strings.Split(s, ":")
	if len(f) < 3 || len(f) > 4 || (f[0] != "tcp" && f[0] != "udp") {
		return nil, fmt.Errorf("bad redirection %q (want tcp:HOSTPORT:GUESTPORT[:COUNT])", s)
	}
	host, err1 := parsePort(f[1])
	guest, err2 := parsePort(f[2])
	count := 1
	var err3 error
	if len(f) == 4 {
		count, err3 = strconv.Atoi(f[3])
		if err3 == nil && count < 1 {
			err3 = errors.New("count must be at least 1")
		}
	}
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("bad redirection %q: %w", s, err)
	}
	if host+count-1 > 65535 || guest+count-1 > 65535 {
		return nil, fmt.Errorf("bad redirection %q: ports run past 65535", s)
	}
	out := make([]Forward, count)
	for i := range out {
		out[i] = Forward{Proto: f[0], HostPort: host + i, GuestPort: guest + i}
	}
	return out, nil
}

// ParsePublish reads a --publish value, "[ADDR:]HOSTPORT:GUESTPORT[/udp]",
// as docker run -p has it.
func ParsePublish(s string) (Forward, error) {
	fw := Forward{Proto: "tcp"}
	rest := s
	if spec, proto, ok := strings.Cut(s, "/"); ok {
		if proto != "tcp" && proto != "udp" {
			return fw, fmt.Errorf("publish %q: protocol must be tcp or udp", s)
		}
		fw.Proto, rest = proto, spec
	}
	i := strings.LastIndex(rest, ":")
	if i < 0 {
		return fw, fmt.Errorf("publish %q: want [ADDR:]HOSTPORT:GUESTPORT[/udp]", s)
	}
	hostPart, guest := rest[:i], rest[i+1:]
	if j := strings.LastIndex(hostPart, ":"); j >= 0 {
		fw.HostAddr, hostPart = strings.Trim(hostPart[:j], "[]"), hostPart[j+1:]
		if _, err := netip.ParseAddr(fw.HostAddr); err != nil {
			return fw, fmt.Errorf("publish %q: %q is not an IP address", s, fw.HostAddr)
		}
	}
	var err1, err2 error
	fw.HostPort, err1 = parsePort(hostPart)
	fw.GuestPort, err2 = parsePort(guest)
	if err := errors.Join(err1, err2); err != nil {
		return fw, fmt.Errorf("publish %q: %w", s, err)
	}
	return fw, nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return p, nil
}
