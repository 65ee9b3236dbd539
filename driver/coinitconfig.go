package driver

import (
	"fmt"

	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/x11"
	"github.com/colinux-ng/colinux/pkg/cobd"
	"github.com/colinux-ng/colinux/runtime/coinit"
)

// CoinitConfig is what coinit needs of m on every monitor: root, command,
// DHCP on the user-mode interfaces in command mode, and the X display;
// each backend adds its consoles, shares and modules.
func CoinitConfig(m *config.Config, display *x11.Forwarder) coinit.Config {
	c := coinit.Config{Root: m.Root, ReadOnly: m.ReadOnly, SysfsReadOnly: m.SysfsReadOnly, Command: m.Command}
	for _, nic := range m.NICs {
		if nic.Mode == config.Slirp && len(m.Command) > 0 {
			c.DHCP = append(c.DHCP, fmt.Sprintf("eth%d", nic.Index))
		}
	}
	for _, d := range m.Disks {
		if d.ReadOnly && !m.Snapshot && cobd.Device(d.Index) == m.Root {
			c.ReadOnly = true // the block device refuses writes anyway
		}
	}
	if display != nil {
		c.X11 = display.GuestDisplay()
	}
	return c
}
