// Package x11test starts a private X server for tests: Xvfb with a random
// MIT-MAGIC-COOKIE-1 and an Xauthority file written by xauth(1), as a
// desktop session sets them up.
package x11test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/colinux-ng/colinux/internal/testutil"
)

// Server is a running Xvfb.
type Server struct {
	Display   string // ":N"
	Authority string // Xauthority file holding Cookie for Display
	Cookie    string // hex
}

// Width and Height are the screen's size.
const Width, Height = 320, 240

// Xvfb starts an X server that stops when the test ends, with extra
// arguments (such as -listen tcp). Access needs the cookie: Xvfb's -auth
// turns host-based access off for everyone.
func Xvfb(t testing.TB, args ...string) Server {
	t.Helper()
	xvfb := testutil.RequireTool(t, "Xvfb")
	testutil.RequireTool(t, "xauth")
	dir := t.TempDir()
	raw := make([]byte, 16)
	rand.Read(raw)
	s := Server{Authority: filepath.Join(dir, "Xauthority"), Cookie: hex.EncodeToString(raw)}
	// The server reads every cookie of its -auth file, whatever display
	// it names; the number is known only once it started.
	serverAuth := filepath.Join(dir, "server.auth")
	testutil.Run(t, "xauth", "-q", "-f", serverAuth, "add", ":0", "MIT-MAGIC-COOKIE-1", s.Cookie)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(xvfb, append([]string{"-displayfd", "3", "-auth", serverAuth, "-nolisten", "tcp", "-br",
		"-screen", "0", "320x240x24"}, args...)...)
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(r).ReadString('\n')
		line <- strings.TrimSpace(l)
		r.Close()
	}()
	select {
	case n := <-line:
		if n == "" {
			t.Fatal("Xvfb did not start")
		}
		s.Display = ":" + n
	case <-time.After(30 * time.Second):
		t.Fatal("Xvfb did not report its display in 30 s")
	}
	testutil.Run(t, "xauth", "-q", "-f", s.Authority, "add", s.Display, "MIT-MAGIC-COOKIE-1", s.Cookie)
	return s
}

// Env is the environment of a host client of s.
func (s Server) Env() []string {
	return append(os.Environ(), "DISPLAY="+s.Display, "XAUTHORITY="+s.Authority)
}

// Client builds xclient (see its package) static and returns the
// executable, for a guest image's bin/xclient.
func Client(t testing.TB) string {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	out := filepath.Join(t.TempDir(), "xclient")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s", "-o", out, ".")
	cmd.Dir = filepath.Join(filepath.Dir(self), "xclient")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build xclient: %v\n%s", err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Where xclient's window is (see xclient): its middle and a point
// outside it.
var (
	Inside  = image.Pt(160, 120)
	Outside = image.Pt(5, 5)
)

// Screenshot takes the root window with xwd(1) and returns it decoded and
// as PNG.
func (s Server) Screenshot(t testing.TB) (image.Image, []byte) {
	t.Helper()
	xwd := exec.Command(testutil.RequireTool(t, "xwd"), "-root", "-silent", "-display", s.Display)
	xwd.Env = s.Env()
	raw, err := xwd.Output()
	if err != nil {
		t.Fatalf("xwd: %v", err)
	}
	img, err := decodeXWD(raw)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return img, b.Bytes()
}

// RGB is the colour of a pixel as xclient's RRGGBB.
func RGB(img image.Image, p image.Point) uint32 {
	r, g, b, _ := img.At(p.X, p.Y).RGBA()
	return (r>>8)<<16 | (g>>8)<<8 | b>>8
}

// Done tells every xclient fill on s to exit.
func (s Server) Done(t testing.TB) {
	t.Helper()
	cmd := exec.Command(testutil.RequireTool(t, "xprop"), "-root", "-display", s.Display,
		"-f", "COLINUX_DONE", "8s", "-set", "COLINUX_DONE", "1")
	cmd.Env = s.Env()
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xprop: %v\n%s", err, msg)
	}
}
