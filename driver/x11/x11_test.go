package x11

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/driver/x11/x11test"
	"github.com/colinux-ng/colinux/internal/testutil"
	"github.com/colinux-ng/colinux/pkg/xauth"
)

func TestParseDisplay(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Display
	}{
		{":0", Display{Number: 0}},
		{":10.1", Display{Number: 10, Screen: 1}},
		{"unix:3", Display{Host: "unix", Number: 3}},
		{"localhost:11.0", Display{Host: "localhost", Number: 11}},
		{"192.168.1.5:2", Display{Host: "192.168.1.5", Number: 2}},
		{"[fe80::1]:4", Display{Host: "fe80::1", Number: 4}},
	} {
		got, err := ParseDisplay(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDisplay(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"0", ":", ":x", ":-1", ":01", ":1.x", ":99999", "host::0", "/tmp/sock:0", "tcp/host:0"} {
		if d, err := ParseDisplay(bad); err == nil {
			t.Errorf("ParseDisplay(%q) = %+v, want an error", bad, d)
		}
	}
	if _, err := ParseDisplay(""); !errors.Is(err, ErrNoDisplay) {
		t.Errorf("empty DISPLAY: %v", err)
	}
	if _, err := New(":"+fmt.Sprint(0xffff-tcpBase), ""); !errors.Is(err, ErrNoDisplay) || !strings.Contains(err.Error(), "cannot reach") {
		t.Errorf("absent display: %v", err)
	}
}

// Real Xlib clients (xdpyinfo) reach Xvfb through the forwarder with the
// guest's Xauthority, and are refused without it.
func TestForwardXvfb(t *testing.T) {
	xdpyinfo := testutil.RequireTool(t, "xdpyinfo")
	srv := x11test.Xvfb(t)
	f, err := New(srv.Display, srv.Authority)
	if err != nil {
		t.Fatal(err)
	}
	if !f.HostCookie() {
		t.Fatal("the host's cookie was not found")
	}
	// The guest side, here on the host's loopback: Xvfb listens on no
	// TCP port, so the display's own is free.
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", f.Port()))
	if err != nil {
		t.Skipf("X port of display %s taken: %v", srv.Display, err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.Serve(c)
		}
	}()
	dir := t.TempDir()
	guestAuth := filepath.Join(dir, "guest.auth")
	os.WriteFile(guestAuth, f.guestAuthority(net.IPv4(127, 0, 0, 1)), 0o600)
	if bytes.Contains(f.guestAuthority(net.IPv4(10, 0, 2, 2)), f.hostAuth.Data) {
		t.Error("the guest's file holds the host's cookie")
	}
	display := "127.0.0.1" + srv.Display
	for _, tc := range []struct {
		auth string
		ok   bool
		want string
	}{
		{guestAuth, true, "dimensions:    320x240 pixels"},
		{filepath.Join(dir, "none"), false, "did not present the cookie"},
		{srv.Authority, false, "did not present the cookie"}, // the host's cookie is not the guest's
	} {
		cmd := exec.Command(xdpyinfo, "-display", display)
		cmd.Env = append(os.Environ(), "XAUTHORITY="+tc.auth)
		out, err := cmd.CombinedOutput()
		if (err == nil) != tc.ok || !strings.Contains(string(out), tc.want) {
			t.Errorf("XAUTHORITY=%s: %v, want ok=%v and %q in:\n%.500s", tc.auth, err, tc.ok, tc.want, out)
		}
	}
}

// A display over TCP: the host's cookie is the one xauth(1) keeps for the
// local display (libxcb looks a loopback server up by host name), and a
// setup with the guest's cookie is accepted by the server.
func TestForwardTCPDisplay(t *testing.T) {
	srv := x11test.Xvfb(t, "-listen", "tcp")
	f, err := New("127.0.0.1"+srv.Display, srv.Authority)
	if err != nil {
		t.Fatal(err)
	}
	if !f.HostCookie() {
		t.Fatal("the host's cookie was not found")
	}
	for _, tc := range []struct {
		cookie []byte
		want   byte // the reply's first byte: 1 Success, 0 Failed
	}{{f.cookie, 1}, {make([]byte, 16), 0}} {
		guest, end := net.Pipe()
		go f.Serve(end)
		go guest.Write(setup{order: binary.LittleEndian, major: 11}.marshal(xauth.MITMagicCookie, tc.cookie))
		reply := make([]byte, 1)
		if _, err := guest.Read(reply); err != nil || reply[0] != tc.want {
			t.Errorf("cookie %x: reply %d, %v; want %d", tc.cookie, reply[0], err, tc.want)
		}
		guest.Close()
	}
}

func TestSetupRoundTrip(t *testing.T) {
	for _, order := range []binary.ByteOrder{binary.BigEndian, binary.LittleEndian} {
		s := setup{order: order, major: 11, name: "MIT-MAGIC-COOKIE-1", data: []byte{1, 2, 3}}
		b := s.marshal(s.name, s.data)
		if len(b)%4 != 0 {
			t.Errorf("request of %d bytes", len(b))
		}
		got, err := readSetup(bytes.NewReader(b))
		if err != nil || got.order != order || got.major != 11 || got.name != s.name || !bytes.Equal(got.data, s.data) {
			t.Errorf("%v: %+v %v", order, got, err)
		}
		if r := s.refusal("no"); r[0] != 0 || r[1] != 2 || len(r) != 12 || order.Uint16(r[6:]) != 1 {
			t.Errorf("refusal %x", r)
		}
	}
	for _, bad := range [][]byte{nil, []byte("X\x00\x00\x0b\x00\x00\x00\x00\x00\x00\x00\x00"), []byte("l\x00\x0b\x00\x00\x00\x04\x00")} {
		if _, err := readSetup(bytes.NewReader(bad)); !errors.Is(err, errSetup) {
			t.Errorf("readSetup(%q): %v", bad, err)
		}
	}
}

func FuzzReadSetup(f *testing.F) {
	f.Add(setup{order: binary.LittleEndian, major: 11, name: "MIT-MAGIC-COOKIE-1", data: make([]byte, 16)}.marshal("MIT-MAGIC-COOKIE-1", make([]byte, 16)))
	f.Add([]byte("B\x00\x00\x0b\x00\x00\x00\x01\x00\x02\x00\x00abcdef"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := readSetup(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, errSetup) {
				t.Fatalf("error %v", err)
			}
			return
		}
		again := s.marshal(s.name, s.data)
		back, err := readSetup(bytes.NewReader(again))
		if err != nil || back.name != s.name || !bytes.Equal(back.data, s.data) || back.major != s.major || back.minor != s.minor {
			t.Fatalf("round trip: %+v %v", back, err)
		}
		s.refusal(s.name)
	})
}
