package conet

import (
	"crypto/sha256"
	"fmt"
	"net"
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
