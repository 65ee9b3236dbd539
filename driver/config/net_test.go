package config

import (
	"net"
	"reflect"
	"strings"
	"testing"
)

func TestNICs(t *testing.T) {
	mac, _ := net.ParseMAC("02:00:00:00:00:07")
	for _, tc := range []struct {
		arg  string
		want NIC
	}{
		{"eth0=slirp", NIC{Index: 0, Mode: Slirp}},
		{"eth1=slirp,02:00:00:00:00:07", NIC{Index: 1, Mode: Slirp, MAC: mac}},
		{"eth0=slirp,,tcp:2222:22/udp:5353:53", NIC{Index: 0, Mode: Slirp, Forwards: []Forward{
			{Proto: "tcp", HostPort: 2222, GuestPort: 22}, {Proto: "udp", HostPort: 5353, GuestPort: 53}}}},
		{"eth0=slirp,,tcp:8000:80:3", NIC{Index: 0, Mode: Slirp, Forwards: []Forward{
			{Proto: "tcp", HostPort: 8000, GuestPort: 80}, {Proto: "tcp", HostPort: 8001, GuestPort: 81},
			{Proto: "tcp", HostPort: 8002, GuestPort: 82}}}},
		// The README's form: forwards without the MAC field.
		{"eth0=slirp,tcp:8080:80", NIC{Index: 0, Mode: Slirp, Forwards: []Forward{
			{Proto: "tcp", HostPort: 8080, GuestPort: 80}}}},
		{"eth0=slirp,udp:5353:53/tcp:2222:22", NIC{Index: 0, Mode: Slirp, Forwards: []Forward{
			{Proto: "udp", HostPort: 5353, GuestPort: 53}, {Proto: "tcp", HostPort: 2222, GuestPort: 22}}}},
		{"eth0=slirp,02:00:00:00:00:07,tcp:8080:80", NIC{Index: 0, Mode: Slirp, MAC: mac, Forwards: []Forward{
			{Proto: "tcp", HostPort: 8080, GuestPort: 80}}}},
		{"eth0=tuntap", NIC{Index: 0, Mode: TAP}},
		{`eth2=tuntap,"linux-tap",02:00:00:00:00:07`, NIC{Index: 2, Mode: TAP, Device: "linux-tap", MAC: mac}},
	} {
		c, err := Parse([]string{tc.arg})
		if err != nil {
			t.Errorf("%s: %v", tc.arg, err)
			continue
		}
		if len(c.NICs) != 1 || !reflect.DeepEqual(c.NICs[0], tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.arg, c.NICs, tc.want)
		}
	}
}

func TestNICErrors(t *testing.T) {
	for _, tc := range []struct{ arg, want string }{
		{"eth0=pcap-bridge,LAN", `unknown network mode "pcap-bridge"`},
		{"eth0=slirp,zz:00", `bad MAC address "zz:00"`},
		{"eth0=slirp,01:00:00:00:00:01", "multicast"},
		{"eth0=slirp,,tcp:22", "bad redirection"},
		{"eth0=slirp,,icmp:1:1", "bad redirection"},
		{"eth0=slirp,,tcp:0:22", `bad port "0"`},
		{"eth0=slirp,,tcp:65535:22:2", "past 65535"},
		{"eth0=tuntap,a-very-long-interface-name", "not a network interface name"},
		{"eth0=slirp,,,", "too many fields"},
		{"eth0=slirp,tcp:8080:80,02:00:00:00:00:07", "port forwards come last"},
		{"eth0=slirp,tcp:8080", "bad redirection"},
	} {
		_, err := Parse([]string{tc.arg})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.arg, err, tc.want)
		}
	}
}

func TestParsePublish(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Forward
	}{
		{"8080:80", Forward{Proto: "tcp", HostPort: 8080, GuestPort: 80}},
		{"0.0.0.0:8080:80", Forward{Proto: "tcp", HostAddr: "0.0.0.0", HostPort: 8080, GuestPort: 80}},
		{"[::1]:53:53/udp", Forward{Proto: "udp", HostAddr: "::1", HostPort: 53, GuestPort: 53}},
	} {
		got, err := ParsePublish(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"80", "a:80", "host:1:2", "1:2/sctp", "1:70000"} {
		if _, err := ParsePublish(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func FuzzNIC(f *testing.F) {
	for _, s := range []string{"slirp,,tcp:1:2:3/udp:4:5", "tuntap,tap0,02:00:00:00:00:01", "8080:80/udp"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if nic, err := parseNIC(0, s); err == nil && len(nic.Forwards) > 65535 {
			t.Errorf("%q: %d forwards", s, len(nic.Forwards))
		}
		if fw, err := ParsePublish(s); err == nil && (fw.HostPort < 1 || fw.GuestPort > 65535) {
			t.Errorf("%q: %+v", s, fw)
		}
	})
}
