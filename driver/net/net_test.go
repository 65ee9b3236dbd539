package conet

import (
	"errors"
	"net"
	"path/filepath"
	"testing"

	"github.com/colinux-ng/colinux/driver/config"
)

func TestMAC(t *testing.T) {
	a, b := MAC("debian", 0), MAC("debian", 0)
	if a.String() != b.String() {
		t.Errorf("MAC differs between calls: %s %s", a, b)
	}
	if a[0]&0x02 == 0 || a[0]&0x01 != 0 {
		t.Errorf("%s is not a locally administered unicast address", a)
	}
	for _, other := range []net.HardwareAddr{MAC("debian", 1), MAC("debian-2", 0)} {
		if other.String() == a.String() {
			t.Errorf("two interfaces share %s", a)
		}
	}
}

func TestTAPName(t *testing.T) {
	if n := TAPName("a-rather-long-instance-name", 12); len(n) > 15 || n != "coa-rather-l-12" {
		t.Errorf("TAPName = %q", n)
	}
	if n := TAPName("web", 0); n != "coweb-0" {
		t.Errorf("TAPName = %q", n)
	}
}

func TestListenPortTaken(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	_, err = Listen(UserConfig{
		Socket:   filepath.Join(t.TempDir(), "eth0.sock"),
		MAC:      MAC("t", 0),
		Forwards: []config.Forward{{Proto: "tcp", HostPort: port, GuestPort: 80}},
	})
	if !errors.Is(err, ErrForward) {
		t.Errorf("want ErrForward, got %v", err)
	}
}

func TestListenClose(t *testing.T) {
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fw := config.Forward{Proto: "tcp", HostPort: probe.Addr().(*net.TCPAddr).Port, GuestPort: 80}
	probe.Close()
	sock := filepath.Join(t.TempDir(), "eth0.sock")
	u, err := Listen(UserConfig{Socket: sock, MAC: MAC("t", 0), Forwards: []config.Forward{fw}})
	if err != nil {
		t.Fatal(err)
	}
	u.Close()
	port := u.published[0].Listen()
	if ln, err := net.Listen("tcp", port); err != nil {
		t.Errorf("published port %s still held after Close: %v", port, err)
	} else {
		ln.Close()
	}
	if _, err := net.Dial("unixpacket", sock); err == nil {
		t.Error("socket still accepts after Close")
	}
}
