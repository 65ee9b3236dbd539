package conet

import (
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/nested"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// arpGuard drops the stack's ARP replies for any address but the
// gateway's. In promiscuous mode the stack claims every address — the
// guest's own too, which a DHCP client probing its new address would take
// for a conflict and decline.
type arpGuard struct {
	nested.Endpoint
}

func newARPGuard(child stack.LinkEndpoint) *arpGuard {
	g := &arpGuard{}
	g.Endpoint.Init(child, g)
	return g
}

func (g *arpGuard) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	var keep stack.PacketBufferList
	for _, p := range pkts.AsSlice() {
		if p.NetworkProtocolNumber == header.ARPProtocolNumber {
			h := header.ARP(p.NetworkHeader().Slice())
			if h.IsValid() && h.Op() == header.ARPReply && tcpip.AddrFromSlice(h.ProtocolAddressSender()) != gatewayIP {
				continue
			}
		}
		keep.PushBack(p)
	}
	if _, err := g.Endpoint.WritePackets(keep); err != nil {
		return 0, err
	}
	return pkts.Len(), nil
}
