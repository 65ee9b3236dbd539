// Package instance is the registry of guests — one directory per instance
// holding its state, the monitor's sockets and scratch files — and the
// locks that keep two guests off one image.
//
// An instance is alive exactly as long as its lock file is locked: the
// corun that runs it takes the lock and hands it to the monitor process,
// so the lock ends with the last of them, however they end. An instance
// whose lock is free is dead, whatever its state file says.
package instance

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/colinux-ng/colinux/driver/confine"
	"github.com/colinux-ng/colinux/internal/atomicfile"
	"github.com/colinux-ng/colinux/internal/lazyregexp"
)

// States of an instance.
const (
	Starting = "starting"
	Running  = "running"
	Stopping = "stopping"
	// Dead is an instance whose processes are gone but whose directory
	// is left: its corun was killed, or the guest ended unexpectedly
	// while in the background. corun rm (or stop) removes it.
	Dead = "dead"
)

// Record is what the registry knows about an instance.
type Record struct {
	Name    string `json:"name"`
	Monitor string `json:"monitor"`          // the backend running it
	Kernel  string `json:"kernel,omitempty"` // the guest kernel's release
	// KernelMode is how a UML kernel runs the guest's processes:
	// "seccomp" or "ptrace".
	KernelMode string    `json:"kernel_mode,omitempty"`
	PID        int       `json:"pid"`     // the monitor's PID-1 helper, leading its process group
	Owner      int       `json:"owner"`   // the corun process running it
	Image      string    `json:"image"`   // cobd0
	Started    time.Time `json:"started"` // when the guest was started
	State      string    `json:"state"`
	Reason     string    `json:"reason,omitempty"` // how a dead instance ended, when known
	// Confinement is what confines the guest's monitor, once it runs.
	Confinement *confine.Status `json:"confinement,omitempty"`
	Dir         string          `json:"-"` // the instance directory
}

// Registry is a directory of instances.
type Registry struct {
	Dir string
}

// DefaultRegistry lives in $XDG_RUNTIME_DIR/corun, which the host clears
// at boot, else in ~/.cache/colinux/instances.
func DefaultRegistry() (Registry, error) {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return Registry{Dir: filepath.Join(d, "corun")}, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return Registry{}, err
	}
	return Registry{Dir: filepath.Join(d, "colinux", "instances")}, nil
}

// Errors of the registry.
var (
	ErrExists   = errors.New("an instance of that name is running")
	ErrNotFound = errors.New("no such instance")
	ErrAlive    = errors.New("instance is running")
)

// validName keeps names usable as UML's umid and as a directory name.
var validName = lazyregexp.New(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$`)

const (
	stateFile = "state.json"
	lockFile  = "lock"
	// scratchFile lists the directories an instance has outside its own
	// (UML's memory files live on /dev/shm), one path a line.
	scratchFile = "scratch"
	// ScratchPrefix begins the name of every such directory; a listed path
	// without it is never removed.
	ScratchPrefix = "corun-"
)

// Claim is a live instance's hold on its name and directory.
type Claim struct {
	Name, Dir string
	lock      *os.File
}

// Lock is the file whose lock keeps the instance alive; give it to every
// process of the instance.
func (c *Claim) Lock() *os.File { return c.lock }

// Release ends the instance: its directory is removed, or, with keep,
// left for corun ls to show as dead.
func (c *Claim) Release(keep bool) {
	if !keep {
		removeLocked(c.Dir)
	}
	c.lock.Close()
}

// AddScratch records dir, made outside the instance directory instDir, as
// the instance's: removing the instance, or reusing the name of a dead
// one, removes it too, so that a corun killed before its own cleanup
// leaves nothing behind for long. Its name must begin with ScratchPrefix.
func AddScratch(instDir, dir string) error {
	if !strings.HasPrefix(filepath.Base(dir), ScratchPrefix) || !filepath.IsAbs(dir) {
		return fmt.Errorf("scratch directory %s: want an absolute path to a %s* directory", dir, ScratchPrefix)
	}
	f, err := os.OpenFile(filepath.Join(instDir, scratchFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(f, dir)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeScratch removes the scratch directories the instance in dir
// recorded, whose lock the caller holds.
func removeScratch(dir string) {
	data, _ := os.ReadFile(filepath.Join(dir, scratchFile))
	for _, p := range strings.Split(string(data), "\n") {
		if filepath.IsAbs(p) && strings.HasPrefix(filepath.Base(p), ScratchPrefix) {
			os.RemoveAll(p)
		}
	}
}

// removeLocked removes the directory of an instance whose lock the caller
// holds, and its scratch directories: the lock file first, so that nobody
// sees the instance half gone.
func removeLocked(dir string) error {
	if err := os.Remove(filepath.Join(dir, lockFile)); err != nil && !os.IsNotExist(err) {
		return err
	}
	removeScratch(dir)
	return os.RemoveAll(dir)
}

// Create claims name for a new instance. The leftovers of a dead instance
// of that name are removed first.
func (r Registry) Create(name string) (*Claim, error) {
	if !validName.MatchString(name) {
		return nil, fmt.Errorf("instance name %q: use up to 48 letters, digits, '.', '_' or '-'", name)
	}
	dir := filepath.Join(r.Dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		if errors.Is(err, ErrAlive) {
			if rec, gerr := r.Get(name); gerr == nil && rec.PID > 0 {
				return nil, fmt.Errorf("%s (pid %d): %w", name, rec.PID, ErrExists)
			}
			return nil, fmt.Errorf("%s: %w", name, ErrExists)
		}
		return nil, err
	}
	removeScratch(dir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		lock.Close()
		return nil, err
	}
	for _, e := range entries {
		if e.Name() != lockFile {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
	return &Claim{Name: name, Dir: dir, lock: lock}, nil
}

// lockDir takes the instance lock of dir, or fails with ErrAlive.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrAlive
		}
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return f, nil
}

// alive reports whether some process holds the instance lock of dir. An
// instance without a lock file is being created or removed: ErrNotFound.
func alive(dir string) (bool, error) {
	f, err := os.Open(filepath.Join(dir, lockFile))
	if err != nil {
		if os.IsNotExist(err) {
			return false, ErrNotFound
		}
		return false, err
	}
	defer f.Close()
	err = unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
	return errors.Is(err, unix.EWOULDBLOCK), nil
}

// Save writes the instance's state.
func (r Registry) Save(rec Record) error {
	f, err := atomicfile.Create(filepath.Join(r.Dir, rec.Name, stateFile), 0o600)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := json.NewEncoder(f).Encode(rec); err != nil {
		return err
	}
	// A record outlives no host crash that matters (its guest is gone
	// then), so it is not fsynced: a boot waits for no disk.
	return f.CommitVolatile()
}

// Remove deletes a dead instance; a live one is refused with ErrAlive.
func (r Registry) Remove(name string) error {
	dir := filepath.Join(r.Dir, name)
	if !validName.MatchString(name) {
		return fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	lock, err := lockDir(dir)
	if errors.Is(err, fs.ErrNotExist) { // its owner removed it meanwhile
		return fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer lock.Close()
	return removeLocked(dir)
}

// Get returns an instance, live or dead. The state of an instance whose
// lock is free is Dead.
func (r Registry) Get(name string) (Record, error) {
	dir := filepath.Join(r.Dir, name)
	if !validName.MatchString(name) {
		return Record{}, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	live, err := alive(dir)
	if err != nil {
		return Record{}, fmt.Errorf("%s: %w", name, err)
	}
	rec := Record{Name: name, State: Starting}
	if data, err := os.ReadFile(filepath.Join(dir, stateFile)); err == nil {
		json.Unmarshal(data, &rec) // a torn record still names a dead instance
		rec.Name = name
	}
	rec.Dir = dir
	if !live {
		rec.State = Dead
	}
	return rec, nil
}

// List returns every instance by name, dead ones included.
func (r Registry) List() ([]Record, error) {
	entries, err := os.ReadDir(r.Dir)
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	var out []Record
	for _, e := range entries {
		if rec, err := r.Get(e.Name()); err == nil {
			out = append(out, rec)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
