package coinit

import (
	"context"
	"fmt"
	"net"
	"os"
	"path"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// renameNICs gives User-mode Linux's vector interfaces, vecN, coLinux's
// names, ethN, which images configure (the host wires ethN to vecN).
func renameNICs() {
	links, err := netlink.LinkList()
	if err != nil {
		return
	}
	for _, l := range links {
		if n, ok := strings.CutPrefix(l.Attrs().Name, "vec"); ok {
			if err := netlink.LinkSetName(l, "eth"+n); err != nil {
				fmt.Fprintf(os.Stderr, "coinit: rename %s: %v\n", l.Attrs().Name, err)
			}
		}
	}
}

// resolvConf is written in the initramfs and mounted over the root's
// /etc/resolv.conf, so the command finds the DHCP server's DNS without
// the image being changed.
const resolvConf = "/resolv.conf"

// configureNetwork brings up the loopback and each interface with a DHCP
// lease, for a command that runs without the image's own network setup.
// It returns the mounts it made (over /etc/resolv.conf). A failure is
// reported and leaves the command without that interface.
func configureNetwork(ifaces []string) (mounts []string) {
	if lo, err := netlink.LinkByName("lo"); err == nil {
		netlink.LinkSetUp(lo)
	}
	var dns []string
	for _, name := range ifaces {
		servers, err := dhcp(name)
		if err != nil {
			fmt.Fprintf(os.Stderr, "coinit: %s: %v\n", name, err)
			continue
		}
		dns = append(dns, servers...)
	}
	if len(dns) == 0 {
		return nil
	}
	var b strings.Builder
	for _, s := range dns {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	return showResolvConf(b.String())
}

// showResolvConf puts the DNS servers where the image's /etc/resolv.conf
// leads, without writing to the image: over the file itself, or — when
// it links into /run, as with systemd-resolved — into a fresh tmpfs on
// /run, which an init system would have mounted anyway. It returns the
// mount it made.
func showResolvConf(content string) []string {
	target := newRoot + "/etc/resolv.conf"
	if link, err := os.Readlink(target); err == nil {
		if !path.IsAbs(link) {
			link = path.Join("/etc", link)
		}
		if strings.HasPrefix(path.Clean(link), "/run/") {
			mounts, err := mountRun()
			if err != nil {
				fmt.Fprintf(os.Stderr, "coinit: /run for %s: %v\n", link, err)
				return nil
			}
			file := newRoot + path.Clean(link)
			os.MkdirAll(path.Dir(file), 0o755)
			if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
				fmt.Fprintf(os.Stderr, "coinit: %v\n", err)
			}
			return mounts
		}
	}
	if err := os.WriteFile(resolvConf, []byte(content), 0o644); err != nil {
		return nil
	}
	if err := unix.Mount(resolvConf, target, "", unix.MS_BIND, ""); err != nil {
		fmt.Fprintf(os.Stderr, "coinit: the image has no /etc/resolv.conf to show the DNS servers in: %v\n", err)
		return nil
	}
	return []string{target}
}

// dhcp configures one interface from a DHCP lease: address and default
// route. It returns the lease's DNS servers.
func dhcp(name string) ([]string, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return nil, err
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, err
	}
	c, err := nclient4.New(name, nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(3))
	if err != nil {
		return nil, fmt.Errorf("dhcp: %w", err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	lease, err := c.Request(ctx)
	if err != nil {
		return nil, fmt.Errorf("dhcp: %w", err)
	}
	ack := lease.ACK
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ack.YourIPAddr, Mask: ack.SubnetMask()}}
	if err := netlink.AddrAdd(link, addr); err != nil {
		return nil, fmt.Errorf("address %s: %w", addr, err)
	}
	if r := ack.Router(); len(r) > 0 {
		if err := netlink.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: r[0]}); err != nil {
			return nil, fmt.Errorf("default route via %s: %w", r[0], err)
		}
	}
	var dns []string
	for _, ip := range ack.DNS() {
		dns = append(dns, ip.String())
	}
	return dns, nil
}
