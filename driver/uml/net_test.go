package uml

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"

	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/confine"
	conet "github.com/colinux-ng/colinux/driver/net"
	"github.com/colinux-ng/colinux/driver/uml/umltest"
	"github.com/colinux-ng/colinux/internal/testutil"
)

// netImage is the test image with an /etc/resolv.conf for coinit to
// show the DHCP server's DNS in.
func netImage(t *testing.T) string {
	return umltest.Image(t, t.TempDir(), map[string]string{"etc/resolv.conf": ""})
}

// testResolver answers A queries for name with ip on 127.0.0.1 and
// returns its address.
func testResolver(t *testing.T, name, ip string) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			switch {
			case q.Name != name:
				m.Rcode = dns.RcodeNameError
			case q.Qtype == dns.TypeA:
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(ip)})
			}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// fetchLine connects to addr until a server there sends a line, which it
// returns; the guest's server may not be up yet.
func fetchLine(ctx context.Context, addr string) (string, error) {
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			line, rerr := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if rerr == nil {
				return line, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%s: nothing served: %v", addr, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func TestUserNetwork(t *testing.T) {
	t.Parallel()
	img := netImage(t)
	httpPort := testutil.ServeHTTP(t, "127.0.0.1:0", "hello from the host\n")
	resolver := testResolver(t, "guest-test.colinux.", "192.0.2.7")
	published := freePort(t)
	script := fmt.Sprintf(`ifconfig eth0
wget -q -O - http://%s:%d/
nslookup guest-test.colinux
echo published-ok | nc -l -p 8080
`, conet.Gateway, httpPort)
	m := &config.Config{
		Disks: []config.Disk{{Index: 0, Path: img}},
		NICs: []config.NIC{{Index: 0, Mode: config.Slirp,
			Forwards: []config.Forward{{Proto: "tcp", HostPort: published, GuestPort: 8080}}}},
		DNS:     resolver,
		Command: []string{"sh", "-c", script},
	}
	ctx, cancel := context.WithTimeout(context.Background(), bootLimit)
	defer cancel()
	got := make(chan string, 1)
	go func() {
		line, err := fetchLine(ctx, fmt.Sprintf("127.0.0.1:%d", published))
		if err != nil {
			line = err.Error()
		}
		got <- line
	}()
	res, out, err := boot(t, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("guest output:\n%s", out)
	if res.ExitCode != 0 {
		t.Errorf("guest command failed: %+v", res)
	}
	for _, want := range []string{
		"inet addr:" + conet.GuestIP,      // DHCP's static lease, on eth0
		"hello from the host",             // the host's loopback through the gateway
		"Address: 192.0.2.7",              // the test's resolver, through the NAT's DNS
		conet.MAC(m.Name, 0).String()[:8], // the derived MAC
	} {
		if !strings.Contains(strings.ToLower(out), strings.ToLower(want)) {
			t.Errorf("guest output lacks %q", want)
		}
	}
	if line := <-got; line != "published-ok\n" {
		t.Errorf("published port: got %q", line)
	}
}

// TestTAP runs in a network namespace of its own: a TAP device there
// carries traffic both ways between host and guest.
func TestTAP(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("TAP devices need root")
	}
	if os.Getenv("CONET_TEST_NETNS") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTAP$", "-test.v")
		cmd.Env = append(os.Environ(), "CONET_TEST_NETNS=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
		out, err := cmd.CombinedOutput()
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("cannot create a network namespace here: %v", err)
		}
		t.Logf("in a network namespace:\n%s", out)
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatal(err)
	}
	// An existing device is used as it is and left in place.
	tap, err := conet.OpenTAP("cotest0", confine.Probe().UID)
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	link, _ := netlink.LinkByName("cotest0")
	hostAddr, _ := netlink.ParseAddr("10.9.0.1/24")
	if err := netlink.AddrAdd(link, hostAddr); err != nil {
		t.Fatal(err)
	}
	httpPort := testutil.ServeHTTP(t, "10.9.0.1:0", "hello over tap\n")
	script := fmt.Sprintf(`ifconfig eth0 10.9.0.2 netmask 255.255.255.0 up
wget -q -O - http://10.9.0.1:%d/
echo tap-ok | nc -l -p 8080
`, httpPort)
	ctx, cancel := context.WithTimeout(context.Background(), bootLimit)
	defer cancel()
	got := make(chan string, 1)
	go func() {
		line, err := fetchLine(ctx, "10.9.0.2:8080")
		if err != nil {
			line = err.Error()
		}
		got <- line
	}()
	res, out, err := boot(t, &config.Config{
		Disks:   []config.Disk{{Index: 0, Path: netImage(t)}},
		NICs:    []config.NIC{{Index: 0, Mode: config.TAP, Device: "cotest0"}},
		Command: []string{"sh", "-c", script},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("guest output:\n%s", out)
	if res.ExitCode != 0 || !strings.Contains(out, "hello over tap") {
		t.Errorf("guest → host over TAP failed: %+v", res)
	}
	if line := <-got; line != "tap-ok\n" {
		t.Errorf("host → guest over TAP: got %q", line)
	}
	if _, err := netlink.LinkByName("cotest0"); err != nil {
		t.Errorf("corun removed a TAP device it did not create: %v", err)
	}

	// A device corun creates, it removes.
	made, err := conet.OpenTAP("cotest1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := made.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName("cotest1"); err == nil {
		t.Error("cotest1 is still there after Close")
	}
}
