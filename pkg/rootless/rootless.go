// Package rootless runs a command as root of a user namespace, the way
// mmdebstrap's unshare mode does: an ordinary user's coimage build re-runs
// itself with the user's id mapped to root and ids 1…65535 mapped to the
// user's subordinate ranges from /etc/subuid and /etc/subgid (written by
// the setuid newuidmap and newgidmap of Debian's uidmap package). Inside,
// the build chroots, mounts, chowns to package users and packs exactly as
// a root build does, so the image bytes are the same; files it leaves on
// the host (image, cache) belong to the user.
package rootless

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// childEnv marks the re-run process; its value is the fd number of the
// pipe that says the id maps are written.
const childEnv = "COIMAGE_ROOTLESS_CHILD"

// Size is how many ids the namespace maps: root plus 65535 subordinate
// ids, the range Debian's useradd hands out.
const Size = 65536

// ErrSetup: this user cannot enter a mapped user namespace; the message
// says what to install or configure.
var ErrSetup = errors.New("rootless build unavailable")

// Mode names how the process builds: "root", or "rootless" inside the
// namespace Run made.
func Mode() string {
	if os.Getenv(childEnv) != "" {
		return "rootless"
	}
	return "root"
}

// InChild, in a process Run started, waits until its id maps are written
// and then executes itself again: the first exec ran with an unmapped uid,
// which dropped the namespace's capabilities; the second runs as its root
// and has them. Elsewhere it returns at once. Call it first thing in main.
func InChild() error {
	fd := os.Getenv(childEnv)
	if fd == "" || fd == "mapped" {
		return nil
	}
	n, err := strconv.Atoi(fd)
	if err != nil {
		return fmt.Errorf("$%s: %q", childEnv, fd)
	}
	f := os.NewFile(uintptr(n), "rootless-sync")
	var b [1]byte
	if _, err := f.Read(b[:]); err != nil || b[0] != 'm' {
		return fmt.Errorf("%w: the parent could not map the user namespace's ids", ErrSetup)
	}
	f.Close()
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: still uid %d after the id mapping", ErrSetup, os.Geteuid())
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	os.Setenv(childEnv, "mapped")
	return syscall.Exec(self, os.Args, os.Environ())
}

// Range is one subordinate id range.
type Range struct{ Start, Count int }

// Run re-runs the current executable with args as root of a new user
// namespace and returns its exit status. Signals are passed on, so the
// child cleans up as on a Ctrl-C of a root build.
func Run(args []string) (int, error) {
	u, err := user.Current()
	if err != nil {
		return 0, err
	}
	t, err := hostSetup.check(u.Username, u.Uid)
	if err != nil {
		return 0, err
	}
	uids, gids, newuidmap, newgidmap := t.uids, t.gids, t.newuidmap, t.newgidmap
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	defer w.Close()
	cmd := exec.Command(self, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{r} // fd 3
	cmd.Env = append(os.Environ(), childEnv+"=3")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("%w: cannot create a user namespace (%v): check that as root: sysctl user.max_user_namespaces kernel.unprivileged_userns_clone", ErrSetup, err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	pid := strconv.Itoa(cmd.Process.Pid)
	uid, gid := strconv.Itoa(os.Getuid()), strconv.Itoa(os.Getgid())
	for _, m := range []struct {
		tool, id string
		sub      Range
	}{{newuidmap, uid, uids}, {newgidmap, gid, gids}} {
		out, err := exec.Command(m.tool, pid, "0", m.id, "1", "1", strconv.Itoa(m.sub.Start), strconv.Itoa(Size-1)).CombinedOutput()
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return 0, fmt.Errorf("%w: %s: %v: %s", ErrSetup, m.tool, err, strings.TrimSpace(string(out)))
		}
	}
	if _, err := w.Write([]byte{'m'}); err != nil {
		return 0, err
	}
	r.Close()
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ee.ExitCode() < 0 {
			return 1, nil // killed by a signal
		}
		return ee.ExitCode(), nil
	}
	return 0, err
}

// host is where a rootless build looks for what it needs; tests point it
// at fixture files.
type host struct {
	procSys  string // /proc/sys
	apparmor string // this process's AppArmor label
	subuid   string // /etc/subuid
	subgid   string
	lookPath func(string) (string, error)
}

var hostSetup = host{procSys: "/proc/sys", apparmor: "/proc/self/attr/current",
	subuid: "/etc/subuid", subgid: "/etc/subgid", lookPath: exec.LookPath}

// tools is what check found.
type tools struct {
	uids, gids           Range
	newuidmap, newgidmap string
}

// check finds, in this order, whether the kernel lets an ordinary user
// make a user namespace, newuidmap and newgidmap, and the user's
// subordinate ranges, and says for the first one missing what to
// change, install or add.
func (h host) check(name, uid string) (tools, error) {
	var t tools
	for _, s := range []struct {
		file, bad, fix string
	}{
		{"user/max_user_namespaces", "0", "user namespaces are disabled (user.max_user_namespaces is 0): as root, sysctl -w user.max_user_namespaces=15000, and add that line to /etc/sysctl.d/ to keep it"},
		{"kernel/unprivileged_userns_clone", "0", "user namespaces are root's only (kernel.unprivileged_userns_clone is 0): as root, sysctl -w kernel.unprivileged_userns_clone=1, and add that line to /etc/sysctl.d/ to keep it"},
		{"kernel/apparmor_restrict_unprivileged_userns", "1", "AppArmor denies unconfined programs capabilities in user namespaces (kernel.apparmor_restrict_unprivileged_userns is 1): as root, sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or give coimage an AppArmor profile with the userns permission"},
	} {
		// A file that is absent means the kernel has no such limit.
		v, err := os.ReadFile(filepath.Join(h.procSys, s.file))
		if err != nil || strings.TrimSpace(string(v)) != s.bad {
			continue
		}
		if strings.Contains(s.file, "apparmor") {
			// The restriction spares programs with a profile.
			if label, err := os.ReadFile(h.apparmor); err == nil && !strings.HasPrefix(string(label), "unconfined") {
				continue
			}
		}
		return t, fmt.Errorf("%w: %s", ErrSetup, s.fix)
	}
	var err error
	for _, tool := range []struct {
		name string
		path *string
	}{{"newuidmap", &t.newuidmap}, {"newgidmap", &t.newgidmap}} {
		if *tool.path, err = h.lookPath(tool.name); err != nil {
			return t, fmt.Errorf("%w: %s not found: install Debian's uidmap package (as root: apt-get install uidmap)", ErrSetup, tool.name)
		}
	}
	how := "as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 " + name
	if t.uids, err = subRange(h.subuid, name, uid, how); err != nil {
		return t, err
	}
	t.gids, err = subRange(h.subgid, name, uid, how)
	return t, err
}

// subRange finds the user's first range of at least Size-1 ids in an
// /etc/subuid-style file (name or uid, start, count).
func subRange(file, name, uid, how string) (Range, error) {
	f, err := os.Open(file)
	if err != nil {
		return Range{}, fmt.Errorf("%w: %v: subordinate ids are needed; add a range %s", ErrSetup, err, how)
	}
	defer f.Close()
	r, err := parseSubIDs(f, name, uid)
	if err != nil {
		return Range{}, fmt.Errorf("%w: %s: %v; add a range %s", ErrSetup, file, err, how)
	}
	return r, nil
}

func parseSubIDs(rd io.Reader, name, uid string) (Range, error) {
	sc := bufio.NewScanner(rd)
	small := false
	for sc.Scan() {
		f := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(f) != 3 || (f[0] != name && f[0] != uid) {
			continue
		}
		start, err1 := strconv.Atoi(f[1])
		count, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || start < 0 {
			continue
		}
		if count < Size-1 {
			small = true
			continue
		}
		return Range{start, count}, nil
	}
	if err := sc.Err(); err != nil {
		return Range{}, err
	}
	if small {
		return Range{}, fmt.Errorf("the range for %s has fewer than %d ids", name, Size-1)
	}
	return Range{}, fmt.Errorf("no range for %s", name)
}
