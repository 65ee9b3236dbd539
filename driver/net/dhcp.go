package conet

import (
	"errors"
	"net"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// serveDHCP answers the guest's DHCP requests on the gateway: GuestIP for
// its MAC, a lease that never runs out during a run, the gateway as
// router and DNS server. Other MACs get no answer: the network has one
// guest.
func serveDHCP(s *stack.Stack, guest net.HardwareAddr) error {
	var wq waiter.Queue
	ep, e := s.NewEndpoint(udp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
	if e != nil {
		return errors.New(e.String())
	}
	ep.SocketOptions().SetBroadcast(true)
	if e := ep.Bind(tcpip.FullAddress{NIC: nicID, Port: dhcpv4.ServerPort}); e != nil {
		ep.Close()
		return errors.New(e.String())
	}
	srv, err := server4.NewServer("", nil, dhcpHandler(guest), server4.WithConn(gonet.NewUDPConn(&wq, ep)))
	if err != nil {
		ep.Close()
		return err
	}
	go srv.Serve() // ends when the stack closes the endpoint
	return nil
}

func dhcpHandler(guest net.HardwareAddr) server4.Handler {
	gw := net.ParseIP(Gateway).To4()
	return func(conn net.PacketConn, peer net.Addr, req *dhcpv4.DHCPv4) {
		if req.ClientHWAddr.String() != guest.String() {
			return
		}
		var typ dhcpv4.MessageType
		switch req.MessageType() {
		case dhcpv4.MessageTypeDiscover:
			typ = dhcpv4.MessageTypeOffer
		case dhcpv4.MessageTypeRequest:
			typ = dhcpv4.MessageTypeAck
		default:
			return
		}
		reply, err := dhcpv4.NewReplyFromRequest(req,
			dhcpv4.WithMessageType(typ),
			dhcpv4.WithYourIP(net.ParseIP(GuestIP)),
			dhcpv4.WithServerIP(gw),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(gw)),
			dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(24*time.Hour)),
			dhcpv4.WithNetmask(subnetMask),
			dhcpv4.WithRouter(gw),
			dhcpv4.WithDNS(gw),
			dhcpv4.WithOption(dhcpv4.Option{Code: dhcpv4.OptionInterfaceMTU, Value: dhcpv4.Uint16(MTU)}),
		)
		if err != nil {
			return
		}
		conn.WriteTo(reply.ToBytes(), peer)
	}
}
