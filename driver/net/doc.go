// Package conet is coLinux's network device for corun: the guest's ethN
// reaches the host either through a user-mode NAT that corun runs in
// process (coLinux's "slirp", no privileges needed) or through a host TAP
// device (coLinux's "tuntap", root only).
//
// # User-mode NAT
//
// UserNet is a gVisor TCP/IP stack with the services of
// github.com/containers/gvisor-tap-vsock: it owns the gateway address,
// turns the guest's TCP and UDP connections into ordinary host sockets,
// forwards DNS queries to the host's resolvers (those of
// /etc/resolv.conf, or one given resolver) and publishes host ports to
// the guest. Connections to the gateway's own address reach the host's
// 127.0.0.1, as with QEMU's and coLinux's slirp. The DHCP server is ours:
// the network has one guest, which always gets GuestIP for its MAC.
// gvisor-tap-vsock's switch and DHCP service are left out because they
// pull in gopacket, whose tables cost 8 MiB of memory in every corun.
//
// # Framing
//
// The guest joins the NAT through User-mode Linux's vector driver with
// its BESS transport (vecN:transport=bess,dst=SOCKET): the guest kernel
// connects to a unix SOCK_SEQPACKET socket that UserNet listens on, and
// every packet on that connection, either way, is one bare Ethernet
// frame — destination MAC first, no length prefix, no frame check
// sequence. The socket keeps frame boundaries, so no header is needed;
// both ends move frames in batches (sendmmsg/recvmmsg), gVisor's side
// through its fdbased link endpoint. Connecting needs no privileges: the
// socket lives in the instance directory.
//
// The vector driver names its interfaces vecN; coinit renames them ethN
// so the guest sees coLinux's names.
package conet
