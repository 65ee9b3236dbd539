package confine

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
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

// Launch is a program set up to start confined: the caller starts Path
// with Args and Env in its place, with ExtraFiles after its own, in a
// process created with Cloneflags (and the id mappings, when set), then
// calls Started. Path is the trampoline, which execs the program; a
// process of the caller's own started with Env, ExtraFiles and
// Cloneflags may instead call Enter and start the program itself.
type Launch struct {
	Path       string
	Args       []string // argv, argv[0] included
	Env        []string
	ExtraFiles []*os.File
	Cloneflags uintptr
	// UidMappings and GidMappings are for the user namespace in
	// Cloneflags: they make the caller root there.
	UidMappings, GidMappings []syscall.SysProcIDMap

	report  *os.File // read end
	reportW *os.File
	holders []*holder
	jail    string
}

// Init runs the trampoline when this process is one; it returns at once
// otherwise. Call it first thing in main and in TestMain (after the
// helper that calls Enter itself, if the program has one).
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
	os.Exit(trampoline())
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

// Plan is what Wrap sets up: Probe's answer, or with namespaces off
// only Landlock (for a host where the process cannot get namespaces).
func Plan(namespaces bool) Status {
	st := Probe()
	if !namespaces {
		st = Status{Landlock: st.Landlock, UID: os.Getuid(), GID: os.Getgid()}
	}
	return st
}

// Wrap sets up the program at path with argv and env to start confined
// by p as plan says. firstFD is the number the Launch's first ExtraFile
// gets in the new process. Close the Launch when done with it.
func Wrap(p Policy, plan Status, path string, argv, env []string, firstFD int) (*Launch, error) {
	pol, err := p.resolve()
	if err != nil {
		return nil, err
	}
	if env == nil {
		env = os.Environ()
	}
	s := spec{Policy: pol, Path: path, Args: argv, Env: env, Status: plan, Drop: os.Geteuid() == 0 && plan.UID != 0}
	l := &Launch{Path: "/proc/self/exe", Args: []string{"corun-confine"}}
	if plan.MountNS {
		l.Cloneflags = syscall.CLONE_NEWNS
		if plan.UserNS {
			l.Cloneflags |= syscall.CLONE_NEWUSER
			l.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
			l.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
		}
		if l.jail, err = os.MkdirTemp("", "corun-jail-"); err != nil {
			return nil, err
		}
		s.Jail = l.jail
		if s.Drop {
			s.Userns = map[string]int{}
			for _, o := range pol.owners() {
				if o == (owner{uint32(plan.UID), uint32(plan.GID)}) {
					continue // its files are the dropped user's already
				}
				h, err := newHolder(o, plan.UID, plan.GID)
				if err != nil {
					l.Close()
					return nil, fmt.Errorf("confine: user namespace for idmapped mounts: %w", err)
				}
				l.holders = append(l.holders, h)
				s.Userns[o.key()] = firstFD + len(l.ExtraFiles)
				l.ExtraFiles = append(l.ExtraFiles, h.ns)
			}
		}
	}
	if l.report, l.reportW, err = os.Pipe(); err != nil {
		l.Close()
		return nil, err
	}
	s.Report = firstFD + len(l.ExtraFiles)
	l.ExtraFiles = append(l.ExtraFiles, l.reportW)
	b, err := json.Marshal(s)
	if err != nil {
		l.Close()
		return nil, err
	}
	l.Env = []string{envSpec + "=" + string(b)}
	return l, nil
}

// Started waits, once the process has started, until the program is
// started confined (it returns which confinement is in force) or the
// setup has failed. Started does not wait for the report's end: the
// trampoline reports just before its exec (should the exec itself fail,
// it says so on its stderr and exits 127).
func (l *Launch) Started() (Status, error) {
	l.reportW.Close()
	l.reportW = nil
	sc := bufio.NewScanner(l.report)
	sc.Buffer(nil, 1<<20)
	if !sc.Scan() {
		return Status{}, errors.New("confine: the trampoline ended without a report")
	}
	kind, rest, _ := strings.Cut(sc.Text(), " ")
	var got Status
	switch {
	case kind == "ok" && json.Unmarshal([]byte(rest), &got) == nil:
		return got, nil
	case kind == "error":
		msg, _ := strconv.Unquote(rest)
		return Status{}, fmt.Errorf("confine: %s", msg)
	}
	return Status{}, fmt.Errorf("confine: bad report %q", sc.Text())
}

// Close releases what Wrap made.
func (l *Launch) Close() {
	for _, h := range l.holders {
		h.close()
	}
	for _, f := range []*os.File{l.report, l.reportW} {
		if f != nil {
			f.Close()
		}
	}
	if l.jail != "" {
		os.Remove(l.jail)
	}
}
