package bootstrap

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// ErrNotRoot: the second stage needs root, real or of a user namespace
// (coimage build re-runs itself as that for an ordinary user: pkg/rootless).
var ErrNotRoot = errors.New("must run as root: the second stage mounts /proc, /sys and /dev in the target and chroots into it")

// ScriptError is a command that failed inside the target.
type ScriptError struct {
	Name   string // the recipe script's or the step's name
	Status int    // exit status; -1 when killed by a signal
	Output string // the end of its combined stdout and stderr
}

func (e *ScriptError) Error() string {
	out := strings.TrimRight(e.Output, "\n")
	if out == "" {
		out = "(no output)"
	}
	return fmt.Sprintf("script %q failed with exit status %d; its output:\n%s", e.Name, e.Status, out)
}

// Chroot runs shell scripts inside Root as root. Each Run gets a fresh mount
// namespace (private, so nothing propagates to the host) and PID namespace:
// /proc, /sys and /dev are mounted there, and when the script ends, fails,
// is cancelled or this process dies, the namespace dies with its last
// process and every mount with it. A policy-rc.d keeps services from
// starting for the duration.
type Chroot struct {
	Root string
	Env  []string  // added to a clean environment, KEY=value
	Log  io.Writer // optional live copy of the output
}

// setup runs on the host inside the new namespaces and runs the script
// in the target's /bin/sh. $1 is the root, $2 the script. setup stays
// the namespace's PID 1, outside the chroot, so that ischroot inside
// sees a chroot: package scripts then skip what only a running system
// needs (libc6's postinst re-executes init and sleeps a second).
const setup = `set -e
mount --make-rprivate /
mount -t proc proc "$1/proc"
mount --rbind /sys "$1/sys"
mount --rbind /dev "$1/dev"
cd /
chroot "$1" /bin/sh -c "$2"
`

// outputTail bounds the output a ScriptError keeps.
const outputTail = 64 << 10

// policyRC answers "no" to every service start request (invoke-rc.d).
const policyRC = "#!/bin/sh\n# coimage build: no service starts while the image is built.\nexit 101\n"

// Run runs script with /bin/sh -c inside the root; name labels errors.
func (c *Chroot) Run(ctx context.Context, name, script string) error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	for _, d := range []string{"proc", "sys", "dev"} {
		if err := os.MkdirAll(filepath.Join(c.Root, d), 0o755); err != nil {
			return err
		}
	}
	undo, err := c.denyServices()
	if err != nil {
		return err
	}
	defer undo()

	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", setup, "coimage-chroot", c.Root, script)
	cmd.Env = append([]string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root",
		"LC_ALL=C.UTF-8",
		"DEBIAN_FRONTEND=noninteractive",
		"DEBCONF_NONINTERACTIVE_SEEN=true",
	}, c.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:   syscall.CLONE_NEWPID,
		Unshareflags: syscall.CLONE_NEWNS, // Go also makes / private in the child
		Pdeathsig:    syscall.SIGKILL,
	}
	out := &tail{max: outputTail}
	var w io.Writer = out
	if c.Log != nil {
		w = io.MultiWriter(out, c.Log)
	}
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("script %q: %w", name, ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &ScriptError{Name: name, Status: ee.ExitCode(), Output: out.String()}
	}
	if err != nil {
		return fmt.Errorf("script %q: %w", name, err)
	}
	return nil
}

// denyServices installs policy-rc.d unless the target has its own, and
// returns the function that removes it again.
func (c *Chroot) denyServices() (func(), error) {
	path := filepath.Join(c.Root, "usr/sbin/policy-rc.d")
	if _, err := os.Lstat(path); err == nil {
		return func() {}, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(policyRC), 0o755); err != nil {
		return nil, err
	}
	return func() { os.Remove(path) }, nil
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// MountsUnder lists this process's mount points at or below dir, from
// /proc/self/mountinfo.
func MountsUnder(dir string) ([]string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		mp := unescapeMountinfo(f[4])
		if mp == abs || strings.HasPrefix(mp, abs+"/") {
			out = append(out, mp)
		}
	}
	return out, sc.Err()
}

// unescapeMountinfo undoes the octal escapes (\040 for space) of mountinfo.
func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// RemoveTree deletes a build tree, refusing while anything is mounted
// below it: removing through a bind mount of /dev would delete the host's.
func RemoveTree(dir string) error {
	mounts, err := MountsUnder(dir)
	if err != nil {
		return err
	}
	if len(mounts) > 0 {
		return fmt.Errorf("not removing %s: still mounted: %s", dir, strings.Join(mounts, ", "))
	}
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
