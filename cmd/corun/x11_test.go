//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/colinux-ng/colinux/driver/uml/umltest"
	"github.com/colinux-ng/colinux/driver/x11/x11test"
	"github.com/colinux-ng/colinux/internal/testutil"
)

// A guest program opens a window on the host's (Xvfb's) display through
// conet, and the screenshot of that display shows its colour; a guest
// client without the cookie is refused; --x11 without a display fails.
func TestX11(t *testing.T) {
	t.Parallel()
	srv := x11test.Xvfb(t)
	dir := t.TempDir()
	img := umltest.Image(t, dir, map[string]string{"bin/xclient": x11test.Client(t)})

	const colour = 0xff8000
	var out bytes.Buffer
	cmd := exec.Command(corun, "run", "--x11", "--snapshot", img, kernelArg(t), "--", "xclient", "fill", fmt.Sprintf("%06x", colour))
	cmd.Env = srv.Env()
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var shot []byte
	for deadline := time.Now().Add(2 * time.Minute); shot == nil; {
		select {
		case err := <-exited:
			t.Fatalf("guest ended before its window showed (%v):\n%s", err, out.String())
		case <-time.After(500 * time.Millisecond):
		}
		if s, png := srv.Screenshot(t); x11test.RGB(s, x11test.Inside) == colour {
			if got := x11test.RGB(s, x11test.Outside); got != 0 {
				t.Errorf("outside the window: %06x, want black", got)
			}
			shot = png
		} else if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no %06x window on the display after 2 min:\n%s", colour, out.String())
		}
	}
	if p := os.Getenv("X11_SCREENSHOT"); p != "" { // for the README
		time.Sleep(time.Second) // the label follows the window's colour
		_, shot = srv.Screenshot(t)
		os.WriteFile(p, shot, 0o644)
	}
	srv.Done(t)
	select {
	case err := <-exited:
		if err != nil || !strings.Contains(out.String(), "window shown") {
			t.Errorf("guest: %v\n%s", err, out.String())
		}
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Errorf("guest did not end after the done signal:\n%s", out.String())
	}

	// The guest's environment, its root-only cookie file, and a client
	// without it. /etc/resolv.conf links into /run, as with
	// systemd-resolved, so DHCP's DNS servers need /run too.
	testutil.Run(t, "debugfs", "-w", "-R", "symlink /etc/resolv.conf /run/systemd/resolve/stub-resolv.conf", img)
	script := `echo "DISPLAY=$DISPLAY"; stat -c "mode %a" "$XAUTHORITY"; cat /etc/resolv.conf; XAUTHORITY=/none xclient rtt 1`
	cmd = exec.Command(corun, "run", "--snapshot", img, kernelArg(t), "x11=on", "--", "sh", "-c", script)
	cmd.Env = srv.Env()
	msg, err := cmd.CombinedOutput()
	for _, want := range []string{"DISPLAY=10.0.2.2" + srv.Display + "\n", "mode 600\n", "nameserver 10.0.2.2\n", "did not present the cookie"} {
		if !strings.Contains(string(msg), want) {
			t.Errorf("guest output lacks %q:\n%s", want, msg)
		}
	}
	if err == nil {
		t.Error("a client without the cookie got in")
	}

	// Without the host's cookie, corun warns and the host's server
	// refuses the guest's (right) cookie: access control stays the host's.
	cmd = exec.Command(corun, "run", "--snapshot", "--x11", img, kernelArg(t), "--", "xclient", "rtt", "1")
	cmd.Env = append(srv.Env(), "XAUTHORITY="+filepath.Join(dir, "none"))
	msg, err = cmd.CombinedOutput()
	for _, want := range []string{"holds no cookie for display " + srv.Display, "Authorization required"} {
		if err == nil || !strings.Contains(string(msg), want) {
			t.Errorf("without the host's cookie: %v, want %q in:\n%s", err, want, msg)
		}
	}

	cmd = exec.Command(corun, "run", "--x11", img, kernelArg(t), "--", "true")
	cmd.Env = append(os.Environ(), "DISPLAY=")
	msg, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "--x11: x11: no host display: $DISPLAY is not set") {
		t.Errorf("--x11 without DISPLAY: %v\n%s", err, msg)
	}
}
