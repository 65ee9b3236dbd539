package conet

import (
	"crypto/sha256"
	"fmt"
	"net"

	"github.com/colinux-ng/colinux/driver/config"
)

// MAC returns the address of interface ethN of the named instance: the
// same on every boot, so the guest keeps its interface names and DHCP
// lease, and different between instances. It is a locally administered
// unicast address (the second-lowest bit of the first byte set, the
// lowest clear), which no vendor's hardware uses.
func MAC(instance string, n int) net.HardwareAddr {
	sum := sha256.Sum256([]byte(fmt.Sprintf("colinux/%s/eth%d", instance, n)))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = mac[0]&^0x01 | 0x02
	return mac
}

// NICMAC is the guest address of nic: the configured one, else MAC's.
func NICMAC(instance string, nic config.NIC) net.HardwareAddr {
	if nic.MAC != nil {
		return nic.MAC
	}
	return MAC(instance, nic.Index)
}

// NICTAP is the host TAP device of a tuntap nic: the configured one, else
// TAPName's.
func NICTAP(instance string, nic config.NIC) string {
	if nic.Device != "" {
		return nic.Device
	}
	return TAPName(instance, nic.Index)
}
