package confine

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// envSpec carries the trampoline's spec; its value "hold" makes a
// process that only holds a user namespace open for idmapped mounts.
const (
	envSpec  = "COLINUX_CONFINE"
	holdMode = "hold"
)

// spec is what the trampoline does before it execs the program.
type spec struct {
	Policy resolved
	Path   string
	Args   []string
	Env    []string
	Report int    // fd: the status line, or an error, for Start
	Jail   string // tmpfs mount point of the new root; "" for no mount namespace
	// Userns are open user namespaces by "uid:gid" of the files their
	// idmapped mounts give to the dropped uid.
	Userns map[string]int `json:",omitempty"`
	Drop   bool           // become Status.UID/GID
	Status Status         // what the namespaces give; Landlock is filled in
}

// Cmd is a process to start confined, described as with exec.Cmd.
type Cmd struct {
	Path       string
	Args       []string // Args[0] included
	Env        []string // nil: this process's environment
	Dir        string
	Stdin      io.Reader
	Stdout     io.Writer
	Stderr     io.Writer
	ExtraFiles []*os.File // fd 3 on, as with exec.Cmd
	Setpgid    bool       // its own process group

	Policy Policy
	// Unconfined runs the program as it is, without the trampoline.
	Unconfined bool
	// NoNamespaces confines with Landlock alone.
	NoNamespaces bool

	// Process is the running program once Start returns.
	Process *os.Process
	cmd     *exec.Cmd
}

// Command returns a Cmd that runs name with args under p.
func Command(p Policy, name string, args ...string) *Cmd {
	return &Cmd{Path: name, Args: append([]string{name}, args...), Policy: p}
}

// Wait waits for the program to exit, as exec.Cmd.Wait.
func (c *Cmd) Wait() error {
	if c.cmd == nil {
		return errors.New("confine: not started")
	}
	return c.cmd.Wait()
}

// Init runs the trampoline when this process is one; it returns at once
// otherwise. Call it first thing in main and in TestMain.
func Init() {
	v, ok := os.LookupEnv(envSpec)
	if !ok {
		return
	}
	if v == holdMode {
		// The parent opens our user namespace, then closes our stdin.
		os.Stdin.Read(make([]byte, 1))
		os.Exit(0)
	}
	os.Exit(trampoline(v))
}

// Probe tells what Start would give on this host now, as this user.
func Probe() Status {
	s := Status{Landlock: landlockABI(), UID: os.Getuid(), GID: os.Getgid()}
	switch {
	case os.Geteuid() == 0:
		s.MountNS, s.UID, s.GID = true, Nobody, Nobody
	case userNamespaces():
		s.UserNS, s.MountNS = true, true
	}
	return s
}

// userNamespaces says whether an unprivileged user may create user
// namespaces here.
func userNamespaces() bool {
	for file, bad := range map[string]string{
		"/proc/sys/user/max_user_namespaces":                     "0",
		"/proc/sys/kernel/unprivileged_userns_clone":             "0", // Debian before 13
		"/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1", // Ubuntu
	} {
		if b, err := os.ReadFile(file); err == nil && strings.TrimSpace(string(b)) == bad {
			return false
		}
	}
	return true
}

// Start starts the process confined and returns which confinement is in
// force once the program runs. Where namespaces cannot be made it falls
// back to Landlock alone; the Status says so.
func (c *Cmd) Start() (Status, error) {
	if c.Unconfined {
		cmd := c.command(c.Path, c.Args, c.Env, c.ExtraFiles)
		if err := cmd.Start(); err != nil {
			return Status{}, err
		}
		c.cmd, c.Process = cmd, cmd.Process
		return Status{UID: os.Geteuid(), GID: os.Getegid()}, nil
	}
	st := Probe()
	if c.NoNamespaces {
		st = Status{Landlock: st.Landlock, UID: os.Getuid(), GID: os.Getgid()}
	}
	got, err := c.start(st)
	var errno syscall.Errno
	if err != nil && st.MountNS && errors.As(err, &errno) && (errno == syscall.EPERM || errno == syscall.EINVAL || errno == syscall.ENOSPC) {
		st = Status{Landlock: st.Landlock, UID: os.Getuid(), GID: os.Getgid()}
		got, err = c.start(st)
	}
	return got, err
}

func (c *Cmd) command(path string, args, env []string, files []*os.File) *exec.Cmd {
	cmd := &exec.Cmd{Path: path, Args: args, Env: env, Dir: c.Dir, Stdin: c.Stdin, Stdout: c.Stdout, Stderr: c.Stderr,
		ExtraFiles: files, SysProcAttr: &syscall.SysProcAttr{Setpgid: c.Setpgid}}
	return cmd
}

func (c *Cmd) start(st Status) (Status, error) {
	pol, err := c.Policy.resolve()
	if err != nil {
		return Status{}, err
	}
	env := c.Env
	if env == nil {
		env = os.Environ()
	}
	s := spec{Policy: pol, Path: c.Path, Args: c.Args, Env: env, Status: st, Drop: os.Geteuid() == 0 && st.UID != 0}
	// The trampoline: same streams, files and group.
	inner := c.command("/proc/self/exe", []string{"corun-confine"}, nil, append([]*os.File(nil), c.ExtraFiles...))
	attr := inner.SysProcAttr
	var holders []*holder
	defer func() {
		for _, h := range holders {
			h.close()
		}
	}()
	if st.MountNS {
		attr.Cloneflags |= syscall.CLONE_NEWNS
		if st.UserNS {
			attr.Cloneflags |= syscall.CLONE_NEWUSER
			attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
			attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
		}
		jail, err := os.MkdirTemp("", "corun-jail-")
		if err != nil {
			return Status{}, err
		}
		defer os.Remove(jail)
		s.Jail = jail
		if s.Drop {
			s.Userns = map[string]int{}
			for _, owner := range pol.owners() {
				h, err := newHolder(owner, st.UID, st.GID)
				if err != nil {
					return Status{}, fmt.Errorf("confine: user namespace for idmapped mounts: %w", err)
				}
				holders = append(holders, h)
				s.Userns[owner.key()] = 3 + len(inner.ExtraFiles)
				inner.ExtraFiles = append(inner.ExtraFiles, h.ns)
			}
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return Status{}, err
	}
	defer r.Close()
	s.Report = 3 + len(inner.ExtraFiles)
	inner.ExtraFiles = append(inner.ExtraFiles, w)
	b, err := json.Marshal(s)
	if err != nil {
		w.Close()
		return Status{}, err
	}
	inner.Env = []string{envSpec + "=" + string(b)}
	err = inner.Start()
	w.Close()
	if err != nil {
		return Status{}, err
	}
	// The report ends when the program is exec'd (the pipe is
	// close-on-exec there) or the trampoline gives up.
	var got Status
	var failure error
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		kind, rest, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case "ok":
			if err := json.Unmarshal([]byte(rest), &got); err != nil {
				failure = fmt.Errorf("confine: bad report %q", rest)
			}
		case "error":
			msg, _ := strconv.Unquote(rest)
			failure = fmt.Errorf("confine: %s", msg)
		}
	}
	if failure == nil && !sc.Scan() && got == (Status{}) {
		failure = errors.New("confine: the trampoline ended without a report")
	}
	if failure != nil {
		inner.Wait()
		return Status{}, failure
	}
	c.cmd, c.Process = inner, inner.Process
	return got, nil
}
