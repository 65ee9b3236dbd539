//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/colinux-ng/colinux/driver/confine"
	conet "github.com/colinux-ng/colinux/driver/net"
	"github.com/colinux-ng/colinux/driver/uml/umltest"
	"github.com/colinux-ng/colinux/internal/testutil"
)

// commandScript is what TestRunCommand's guest runs; %[1]s:%[2]d is the
// host's HTTP server as the guest reaches it, through the gateway.
const commandScript = `echo out; echo err >&2
echo cpus=$(busybox nproc)
echo x > /written && rm /bin/ls && echo wrote-root
cat /mnt/cofs0/in.txt > /mnt/cofs0/out.txt
cat /mnt/cofs0/../secret /mnt/cofs0/../../secret 2>/dev/null && echo ESCAPED
cat /data/ro.txt
touch /data/x 2>/dev/null && echo WROTE-RO
mount -o remount,rw /data 2>/dev/null; touch /data/y 2>/dev/null && echo WROTE-REMOUNTED
ifconfig eth0
wget -q -O - http://%[1]s:%[2]d/
echo published-ok | busybox timeout 60 nc -l -p 8080
exit 3`

// TestRunCommand: on each monitor, one guest runs a command with what a
// guest gets — its CPUs, a --snapshot root image, a cofs share read and
// written (and nothing beside it) and a ,ro one that stays so even
// remounted read-write, eth0 on the user-mode network with a published
// port — and each is checked on its own: the command's output and exit
// status, cpus= CPUs, the image unchanged, the shares' files, DHCP, the
// host's HTTP server through the gateway, the published port, and what
// run --json says ran.
func TestRunCommand(t *testing.T) {
	t.Parallel()
	forEachMonitor(t, func(t *testing.T, m monitor) {
		dir := t.TempDir()
		img := umltest.Image(t, dir, map[string]string{"etc/resolv.conf": ""})
		before, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		share, ro := filepath.Join(dir, "share"), filepath.Join(dir, "ro")
		for _, d := range []string{share, ro} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		os.WriteFile(filepath.Join(share, "in.txt"), []byte("from the host\n"), 0o644)
		os.WriteFile(filepath.Join(ro, "ro.txt"), []byte("read-only\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "secret"), []byte("outside\n"), 0o644)
		web := testutil.ServeHTTP(t, "127.0.0.1:0", "hello from the host\n")
		published := freePort(t)

		ctx, cancel := context.WithCancel(context.Background())
		got := make(chan string, 1)
		go func() { got <- readPublished(ctx, published) }()
		script := fmt.Sprintf(commandScript, conet.Gateway, web)
		out, errOut, code := m.run(t, m.runArgs(img, []string{"--json", "--snapshot"},
			fmt.Sprintf("cpus=%d", m.cpus), "cofs0="+share, "cofs1="+ro+",/data,ro",
			fmt.Sprintf("eth0=slirp,tcp:%d:8080", published), "--", "sh", "-c", script)...)
		cancel()
		t.Logf("exit %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)

		t.Run("exit status", func(t *testing.T) {
			if code != 3 || !strings.HasPrefix(out, "out\nerr\n") {
				t.Errorf("exit %d, output %q; want 3 and out, err", code, out)
			}
		})
		t.Run("cpus", func(t *testing.T) {
			if want := fmt.Sprintf("cpus=%d\n", m.cpus); !strings.Contains(out, want) {
				t.Errorf("the guest does not say %q", want)
			}
		})
		t.Run("snapshot", func(t *testing.T) {
			after, _ := os.ReadFile(img)
			if !strings.Contains(out, "wrote-root\n") || !bytes.Equal(before, after) {
				t.Errorf("guest wrote its root: %v; image unchanged: %v", strings.Contains(out, "wrote-root"), bytes.Equal(before, after))
			}
		})
		t.Run("cofs", func(t *testing.T) {
			if b, err := os.ReadFile(filepath.Join(share, "out.txt")); err != nil || string(b) != "from the host\n" {
				t.Errorf("file written back by the guest: %q, %v", b, err)
			}
			if strings.Contains(out, "outside") || strings.Contains(out, "ESCAPED") {
				t.Error("the guest reached a file beside the share")
			}
			if !strings.Contains(out, "read-only\n") || strings.Contains(out, "WROTE-") {
				t.Errorf("read-only share: read %v, written %v", strings.Contains(out, "read-only\n"), strings.Contains(out, "WROTE-"))
			}
			for _, f := range []string{"x", "y"} {
				if _, err := os.Stat(filepath.Join(ro, f)); err == nil {
					t.Errorf("the guest wrote %s to a read-only share", f)
				}
			}
		})
		t.Run("conet", func(t *testing.T) {
			for _, want := range []string{"inet addr:" + conet.GuestIP, "hello from the host\n"} {
				if !strings.Contains(out, want) {
					t.Errorf("guest output lacks %q", want)
				}
			}
			if line := <-got; line != "published-ok\n" {
				t.Errorf("published port: got %q", line)
			}
		})
		t.Run("json", func(t *testing.T) {
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			var r runReport
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
				t.Fatalf("run --json: %v", err)
			}
			if r.Monitor != m.kind || r.Kernel != m.release || r.KernelMode != m.mode || r.ExitCode == nil || *r.ExitCode != 3 {
				t.Errorf("run --json: %+v; want monitor %s, kernel %s, mode %q, exit code 3", r, m.kind, m.release, m.mode)
			}
			// The confinement in force is what this host offers.
			if want := confine.Probe(); r.Confinement == nil || *r.Confinement != want {
				t.Errorf("run --json says the confinement is %v; want %v", r.Confinement, want)
			}
		})
		t.Run("accelerator", func(t *testing.T) {
			if warned := strings.Contains(errOut, "QEMU without KVM"); warned != m.tcg {
				t.Errorf("corun warned that QEMU emulates the CPU: %v, want %v", warned, m.tcg)
			}
		})
	})
}

// readPublished reads a line from the host's port until one comes, or
// ctx ends.
func readPublished(ctx context.Context, port int) string {
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			line, rerr := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if rerr == nil {
				return line
			}
		}
		select {
		case <-ctx.Done():
			return "nothing served"
		case <-time.After(200 * time.Millisecond):
		}
	}
}
