package conet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/containers/gvisor-tap-vsock/pkg/services/dns"
	"github.com/containers/gvisor-tap-vsock/pkg/services/forwarder"
	"github.com/containers/gvisor-tap-vsock/pkg/types"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"github.com/colinux-ng/colinux/driver/config"
)

// The user-mode network's addresses are coLinux's slirp ones, except that
// the gateway also serves DNS (slirp used 10.0.2.3).
const (
	Subnet  = "10.0.2.0/24"
	Gateway = "10.0.2.2" // DHCP, DNS, and the host's 127.0.0.1
	GuestIP = "10.0.2.15"
	// MTU is the guest interface's; the NAT has the same.
	MTU = 1500
)

var (
	gatewayIP  = tcpip.AddrFrom4([4]byte{10, 0, 2, 2})
	gatewayMAC = tcpip.LinkAddress([]byte{0x5a, 0x94, 0xef, 0xe4, 0x0c, 0xdd})
	subnetMask = net.CIDRMask(24, 32)
)

const nicID = 1

// UserConfig is one guest interface on a user-mode network of its own.
type UserConfig struct {
	// Socket is where the guest's frames arrive (see the package doc);
	// "" for a guest attached with Attach instead.
	Socket   string
	MAC      net.HardwareAddr // the guest's, which gets GuestIP
	Forwards []config.Forward // host ports published to the guest
	// DNS is the resolver ("host:port") queries are forwarded to; ""
	// means the host's, from /etc/resolv.conf.
	DNS string
	// Services are TCP ports of the gateway that corun serves itself
	// (the X display): the guest's connections to them never reach a
	// host socket of their own.
	Services []Service
}

// Service is a gateway TCP port served in process: Serve gets each
// connection and closes it.
type Service struct {
	Port  uint16
	Serve func(net.Conn)
}

// Errors of a network that cannot start.
var (
	ErrForward = errors.New("cannot publish port")
	ErrGuest   = errors.New("cannot attach the guest")
)

// UserNet is a running user-mode network for one guest.
type UserNet struct {
	cfg       UserConfig
	ln        *net.UnixListener
	stack     *stack.Stack
	ports     *forwarder.PortsForwarder
	published []config.Forward

	mu    sync.Mutex
	guest *net.UnixConn // the guest's connection, once it came
}

// Listen builds the network, publishes the ports and opens the socket;
// Serve then lets the guest in.
func Listen(cfg UserConfig) (*UserNet, error) {
	u := &UserNet{cfg: cfg, stack: stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4},
	})}
	// The guest's connections to any address end in this stack and
	// continue from host sockets; those to the gateway reach 127.0.0.1.
	nat := map[tcpip.Address]tcpip.Address{gatewayIP: tcpip.AddrFrom4([4]byte{127, 0, 0, 1})}
	var natLock sync.Mutex
	u.stack.SetTransportProtocolHandler(tcp.ProtocolNumber, forwarder.TCP(u.stack, nat, &natLock, false).HandlePacket)
	u.stack.SetTransportProtocolHandler(udp.ProtocolNumber, forwarder.UDP(u.stack, nat, &natLock, false).HandlePacket)

	u.ports = forwarder.NewPortsForwarder(u.stack)
	for _, f := range cfg.Forwards {
		guest := net.JoinHostPort(GuestIP, strconv.Itoa(f.GuestPort))
		if err := u.ports.Expose(types.TransportProtocol(f.Proto), f.Listen(), guest); err != nil {
			u.Close()
			return nil, fmt.Errorf("%w %s: %v", ErrForward, f, err)
		}
		u.published = append(u.published, f)
	}
	if cfg.Socket == "" {
		return u, nil
	}
	var err error
	u.ln, err = net.ListenUnix("unixpacket", &net.UnixAddr{Name: cfg.Socket, Net: "unixpacket"})
	if err != nil {
		u.Close()
		return nil, fmt.Errorf("network socket: %w", err)
	}
	return u, nil
}

// Serve waits for the guest to connect, attaches it and returns; the
// network runs until Close. ctx bounds the wait.
func (u *UserNet) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { u.ln.Close() })
	conn, err := u.ln.AcceptUnix()
	stop()
	u.ln.Close() // one guest per network
	if err != nil {
		return fmt.Errorf("%w: %v", ErrGuest, err)
	}
	return u.Attach(conn)
}

// Attach makes conn the guest's link: a connected unix socket that keeps
// frame boundaries (SOCK_SEQPACKET or SOCK_DGRAM) and carries one bare
// Ethernet frame a packet — QEMU's -netdev dgram on the other end of a
// socket pair, say. The network owns conn from then on.
func (u *UserNet) Attach(conn *net.UnixConn) error {
	u.mu.Lock()
	u.guest = conn
	u.mu.Unlock()
	if err := u.attach(conn); err != nil {
		return fmt.Errorf("%w: %v", ErrGuest, err)
	}
	return nil
}

// attach makes the guest's connection the stack's network card, then
// starts the gateway's DHCP and DNS servers on it.
func (u *UserNet) attach(conn *net.UnixConn) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var fd int
	raw.Control(func(f uintptr) { fd = int(f) })
	// fdbased reads frames in batches with recvmmsg and writes them with
	// sendmmsg; the socket keeps each frame whole.
	link, err := fdbased.New(&fdbased.Options{
		FDs: []int{fd}, MTU: MTU, EthernetHeader: true, Address: gatewayMAC,
		PacketDispatchMode: fdbased.RecvMMsg, RXChecksumOffload: true,
	})
	if err != nil {
		return err
	}
	s := u.stack
	if e := s.CreateNIC(nicID, newARPGuard(link)); e != nil {
		return errors.New(e.String())
	}
	if e := s.AddProtocolAddress(nicID, tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: gatewayIP.WithPrefix()}, stack.AddressProperties{}); e != nil {
		return errors.New(e.String())
	}
	s.SetSpoofing(nicID, true)
	s.SetPromiscuousMode(nicID, true)
	subnet, _ := tcpip.NewSubnet(tcpip.AddrFrom4([4]byte{10, 0, 2, 0}), tcpip.MaskFromBytes(subnetMask))
	s.SetRouteTable([]tcpip.Route{{Destination: subnet, NIC: nicID}})
	if err := serveDHCP(s, u.cfg.MAC); err != nil {
		return fmt.Errorf("dhcp: %w", err)
	}
	if err := u.serveDNS(); err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	for _, svc := range u.cfg.Services {
		// A listening endpoint takes the gateway's port before the NAT,
		// which would take the connection to the host's 127.0.0.1.
		ln, err := gonet.ListenTCP(s, tcpip.FullAddress{NIC: nicID, Addr: gatewayIP, Port: svc.Port}, ipv4.ProtocolNumber)
		if err != nil {
			return fmt.Errorf("gateway port %d: %w", svc.Port, err)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return // the stack closed
				}
				go svc.Serve(c)
			}
		}()
	}
	return nil
}

func (u *UserNet) serveDNS() error {
	addr := tcpip.FullAddress{NIC: nicID, Addr: gatewayIP, Port: 53}
	udpConn, err := gonet.DialUDP(u.stack, &addr, nil, ipv4.ProtocolNumber)
	if err != nil {
		return err
	}
	tcpLn, err := gonet.ListenTCP(u.stack, addr, ipv4.ProtocolNumber)
	if err != nil {
		return err
	}
	srv, err := dns.NewWithUpstreamResolver(udpConn, tcpLn, nil, upstream(u.cfg.DNS))
	if err != nil {
		return err
	}
	go srv.Serve()
	go srv.ServeTCP()
	return nil
}

// upstream resolves the guest's queries: through the host's resolver
// configuration, or with every query sent to one server.
func upstream(server string) *net.Resolver {
	if server == "" {
		return &net.Resolver{}
	}
	var d net.Dialer
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, server)
	}}
}

// Close stops the network: the socket, the guest's connection and the
// published ports.
func (u *UserNet) Close() error {
	if u.ln != nil {
		u.ln.Close()
	}
	for _, f := range u.published {
		u.ports.Unexpose(types.TransportProtocol(f.Proto), f.Listen())
	}
	u.stack.Close()
	u.stack.Wait()
	u.mu.Lock()
	if u.guest != nil {
		u.guest.Close()
	}
	u.mu.Unlock()
	return nil
}
