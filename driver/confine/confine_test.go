package confine

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Getenv("CONFINE_TEST_PERSONALITY") != "" { // TestNoRandomize's program
		p, err := personality(0xffffffff)
		fmt.Printf("%#x %v\n", p&addrNoRandomize, err)
		os.Exit(0)
	}
	Init()
	os.Exit(m.Run())
}

// cmd is a program to run confined in a test.
type cmd struct {
	policy       Policy
	argv         []string
	unconfined   bool
	noNamespaces bool
}

// run runs c and returns the confinement, its output and exit error.
func run(t *testing.T, c cmd) (Status, string, error) {
	t.Helper()
	var out bytes.Buffer
	x := exec.Command(c.argv[0], c.argv[1:]...)
	x.Stdout, x.Stderr = &out, &out
	if c.unconfined {
		err := x.Run()
		return Status{UID: os.Geteuid(), GID: os.Getegid()}, out.String(), err
	}
	l, err := Wrap(c.policy, Plan(!c.noNamespaces), c.argv[0], c.argv, nil, 3)
	if err != nil {
		t.Fatalf("wrap: %v", err)
	}
	defer l.Close()
	x.Path, x.Args, x.Env, x.ExtraFiles = l.Path, l.Args, l.Env, l.ExtraFiles
	x.SysProcAttr = &syscall.SysProcAttr{Cloneflags: l.Cloneflags, UidMappings: l.UidMappings, GidMappings: l.GidMappings}
	if err := x.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	st, err := l.Started()
	if err != nil {
		x.Wait()
		t.Fatalf("started: %v", err)
	}
	err = x.Wait()
	return st, out.String(), err
}

// NoRandomize reaches the confined program, and only when asked for.
func TestNoRandomize(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, on := range []bool{false, true} {
		l, err := Wrap(Policy{Exec: []string{self}, NoRandomize: on}, Plan(true), self, []string{self}, []string{"CONFINE_TEST_PERSONALITY=1"}, 3)
		if err != nil {
			t.Fatalf("wrap: %v", err)
		}
		var out bytes.Buffer
		x := exec.Command(l.Path)
		x.Args, x.Env, x.ExtraFiles, x.Stdout, x.Stderr = l.Args, l.Env, l.ExtraFiles, &out, &out
		x.SysProcAttr = &syscall.SysProcAttr{Cloneflags: l.Cloneflags, UidMappings: l.UidMappings, GidMappings: l.GidMappings}
		if err := x.Start(); err != nil {
			t.Fatalf("start: %v", err)
		}
		_, err = l.Started()
		werr := x.Wait()
		l.Close()
		want := map[bool]string{false: "0x0 <nil>", true: fmt.Sprintf("%#x <nil>", addrNoRandomize)}[on]
		if err != nil || werr != nil || strings.TrimSpace(out.String()) != want {
			t.Errorf("NoRandomize %v: %v, %v, %q; want %q", on, err, werr, out.String(), want)
		}
	}
}

// TestPolicy: what the policy names is readable (and writable where it
// says so), nothing else is, under each confinement this host offers.
func TestPolicy(t *testing.T) {
	sh := "/bin/sh"
	for _, noNS := range []bool{true, false} {
		name := map[bool]string{true: "landlock", false: "namespaces"}[noNS]
		t.Run(name, func(t *testing.T) {
			if noNS && landlockABI() == 0 {
				t.Skip("no Landlock in this kernel")
			}
			dir := t.TempDir()
			os.Chmod(dir, 0o755)
			ro, rw, secret := filepath.Join(dir, "ro"), filepath.Join(dir, "rw"), filepath.Join(dir, "secret")
			for _, d := range []string{ro, rw} {
				os.Mkdir(d, 0o755)
			}
			os.WriteFile(filepath.Join(ro, "in"), []byte("ro-data\n"), 0o644)
			os.WriteFile(secret, []byte("SECRET\n"), 0o644)
			os.Symlink(secret, filepath.Join(ro, "link"))
			script := `cat ` + ro + `/in; echo x > ` + rw + `/out && echo WROTE-RW
{ echo x > ` + ro + `/new; } 2>/dev/null && echo WROTE-RO
cat ` + secret + ` ` + ro + `/link /etc/hostname 2>/dev/null
exit 0`
			st, out, err := run(t, cmd{policy: Policy{Exec: []string{sh, "/usr/bin/cat"}, Read: []string{ro}, ReadWrite: []string{rw},
				Devices: []string{"/dev/null"}}, argv: []string{sh, "-c", script}, noNamespaces: noNS})
			t.Logf("%s: %q", st, out)
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if !st.Confined() {
				t.Fatalf("not confined: %+v", st)
			}
			if !strings.Contains(out, "ro-data") || !strings.Contains(out, "WROTE-RW") {
				t.Errorf("the policy's paths did not work: %q", out)
			}
			if strings.Contains(out, "WROTE-RO") || strings.Contains(out, "SECRET") || len(strings.Fields(out)) != 2 {
				t.Errorf("reached beyond the policy: %q", out)
			}
			fi, err := os.Stat(filepath.Join(rw, "out"))
			if err != nil {
				t.Fatal(err)
			}
			if uid := fi.Sys().(*syscall.Stat_t).Uid; int(uid) != os.Getuid() {
				t.Errorf("a file the confined process wrote belongs to uid %d on the host, not %d", uid, os.Getuid())
			}
			if os.Geteuid() == 0 && !noNS && st.UID == 0 {
				t.Errorf("started by root, it still runs as root: %+v", st)
			}
		})
	}
}

// TestUnconfinedEscapes proves TestPolicy's checks can fail.
func TestUnconfinedEscapes(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("SECRET\n"), 0o644)
	st, out, err := run(t, cmd{argv: []string{"/bin/cat", secret}, unconfined: true})
	if err != nil || !strings.Contains(out, "SECRET") || st.Confined() {
		t.Errorf("%+v %q %v", st, out, err)
	}
}

func TestMissingPath(t *testing.T) {
	_, err := Wrap(Policy{Exec: []string{"/bin/true"}, Read: []string{"/nonexistent/x"}}, Plan(true), "/bin/true", []string{"true"}, nil, 3)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/x") {
		t.Errorf("want an error naming the missing path, got %v", err)
	}
	p := Policy{Exec: []string{"/bin/true"}, Read: []string{"/nonexistent/x"}, Optional: []string{"/nonexistent/x"}}
	if _, _, err := run(t, cmd{policy: p, argv: []string{"/bin/true"}}); err != nil {
		t.Errorf("optional path: %v", err)
	}
}

// TestIdmappedOwner: started by root, the process runs as Nobody, yet
// writes into a directory of another user as that user would, and what
// it creates belongs to that user on the host.
func TestIdmappedOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	rw := filepath.Join(dir, "rw")
	os.Mkdir(rw, 0o700)
	const uid, gid = 1234, 2345
	if err := os.Chown(rw, uid, gid); err != nil {
		t.Fatal(err)
	}
	st, out, err := run(t, cmd{policy: Policy{Exec: []string{"/bin/sh"}, ReadWrite: []string{rw}}, argv: []string{"/bin/sh", "-c", "echo x > " + rw + "/new"}})
	if err != nil || st.UID != Nobody {
		t.Fatalf("%+v %v %q", st, err, out)
	}
	fi, err := os.Stat(filepath.Join(rw, "new"))
	if err != nil {
		t.Fatal(err)
	}
	if s := fi.Sys().(*syscall.Stat_t); s.Uid != uid || s.Gid != gid {
		t.Errorf("the new file belongs to %d:%d on the host, want %d:%d", s.Uid, s.Gid, uid, gid)
	}
}

// TestRootOnlyDevice: started by root, the process runs as Nobody and
// still opens the device nodes its policy gives it, even one only root
// may open on the host (/dev/kvm is crw------- on some hosts).
func TestRootOnlyDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	var null syscall.Stat_t
	if err := syscall.Stat("/dev/null", &null); err != nil {
		t.Fatal(err)
	}
	dev := filepath.Join(dir, "null0600") // the null device, root's alone
	if err := syscall.Mknod(dev, syscall.S_IFCHR|0o600, int(null.Rdev)); err != nil {
		t.Skipf("mknod: %v", err)
	}
	script := "echo x > " + dev + " && echo opened"
	st, out, err := run(t, cmd{policy: Policy{Exec: []string{"/bin/sh"}, Devices: []string{dev}}, argv: []string{"/bin/sh", "-c", script}})
	if err != nil || st.UID != Nobody || !strings.Contains(out, "opened") {
		t.Fatalf("%+v %v %q", st, err, out)
	}
	fi, err := os.Stat(dev)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("the host's node changed: %v %v", fi.Mode(), err)
	}
}

// TestElfDepsUnwinder: a program linked to glibc is given the libgcc_s
// beside its libc, which glibc loads itself to cancel a thread.
func TestElfDepsUnwinder(t *testing.T) {
	deps, err := elfDeps("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	libc := ""
	for _, d := range deps {
		if filepath.Base(d) == "libc.so.6" {
			libc = d
		}
	}
	gcc := filepath.Join(filepath.Dir(libc), "libgcc_s.so.1")
	if _, err := os.Stat(gcc); libc == "" || err != nil {
		t.Skipf("no libgcc_s beside the libc (%q) here", libc)
	}
	if !slices.Contains(deps, gcc) {
		t.Errorf("elfDeps(/bin/sh) = %q, want %s among them", deps, gcc)
	}
}
