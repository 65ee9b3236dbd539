package uml

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/colinux-ng/colinux/driver"
	"github.com/colinux-ng/colinux/driver/config"
	conet "github.com/colinux-ng/colinux/driver/net"
)

// nicSocket is where ethN's user-mode network listens, in the instance
// directory.
func nicSocket(dir string, n int) string { return filepath.Join(dir, fmt.Sprintf("eth%d.sock", n)) }

// nicArgs plug each interface into its network through UML's vector
// driver (see driver/net for the framing); coinit renames vecN to ethN.
func nicArgs(m *config.Config, dir string) []string {
	var a []string
	for _, nic := range m.NICs {
		var transport string
		switch nic.Mode {
		case config.Slirp:
			transport = "transport=bess,dst=" + nicSocket(dir, nic.Index)
		case config.TAP:
			transport = "transport=tap,ifname=" + conet.NICTAP(m.Name, nic)
		}
		a = append(a, fmt.Sprintf("vec%d:%s,mac=%s", nic.Index, transport, conet.NICMAC(m.Name, nic)))
	}
	return a
}

// startNetworks brings up the host side of every interface before the
// guest boots. stop tears them down once the guest is gone; until then
// the networks outlive ctx, so a guest shutting down keeps its network.
func startNetworks(inst *driver.Instance) (stop func(), err error) {
	m := inst.Config
	ctx, cancel := context.WithCancel(context.Background())
	var closers []func() error
	stop = func() {
		cancel()
		for _, c := range closers {
			c()
		}
	}
	x11NIC, _ := driver.X11NIC(m)
	for _, nic := range m.NICs {
		switch nic.Mode {
		case config.Slirp:
			cfg := conet.UserConfig{
				Socket: nicSocket(inst.Dir, nic.Index), MAC: conet.NICMAC(m.Name, nic),
				Forwards: nic.Forwards, DNS: m.DNS,
			}
			if inst.X11 != nil && nic.Index == x11NIC.Index {
				cfg.Services = append(cfg.Services, inst.X11.Service())
			}
			un, err := conet.Listen(cfg)
			if err != nil {
				stop()
				return nil, fmt.Errorf("eth%d: %w", nic.Index, err)
			}
			closers = append(closers, un.Close)
			go func(n int) {
				if err := un.Serve(ctx); err != nil && ctx.Err() == nil {
					fmt.Fprintf(inst.Log, "corun: eth%d: %v\n", n, err)
				}
			}(nic.Index)
		case config.TAP:
			t, err := conet.OpenTAP(conet.NICTAP(m.Name, nic), driver.MonitorUID(m))
			if err != nil {
				stop()
				return nil, fmt.Errorf("eth%d: %w", nic.Index, err)
			}
			closers = append(closers, t.Close)
		}
	}
	return stop, nil
}
