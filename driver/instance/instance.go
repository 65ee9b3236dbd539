// Package instance is the registry of running guests — one directory per
// instance holding its state, the monitor's sockets and scratch files —
// and the locks that keep two guests off one image.
package instance

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"syscall"
	"time"

	"github.com/colinux-ng/colinux/internal/atomicfile"
)

// States of an instance.
const (
	Starting = "starting"
	Running  = "running"
	Stopping = "stopping"
)

// Record is what the registry knows about an instance.
type Record struct {
	Name    string    `json:"name"`
	PID     int       `json:"pid"`     // the guest kernel process
	Owner   int       `json:"owner"`   // the corun process running it
	Image   string    `json:"image"`   // cobd0
	Started time.Time `json:"started"` // when the guest was started
	State   string    `json:"state"`
	Dir     string    `json:"-"` // the instance directory
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
)

// validName keeps names usable as UML's umid and as a directory name.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$`)

const stateFile = "state.json"

// Create claims name for a new instance and returns its directory. A
// leftover of a killed instance of that name is cleaned up first.
func (r Registry) Create(name string) (string, error) {
	if !validName.MatchString(name) {
		return "", fmt.Errorf("instance name %q: use up to 48 letters, digits, '.', '_' or '-'", name)
	}
	if err := os.MkdirAll(r.Dir, 0o700); err != nil {
		return "", err
	}
	dir := filepath.Join(r.Dir, name)
	if err := os.Mkdir(dir, 0o700); err == nil {
		return dir, nil
	} else if !os.IsExist(err) {
		return "", err
	}
	if rec, err := r.Get(name); err == nil {
		return "", fmt.Errorf("%s (pid %d): %w", rec.Name, rec.PID, ErrExists)
	}
	// Get removed it as stale, or another corun is creating it right now.
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("%s: %w", name, ErrExists)
	}
	return dir, nil
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
	return f.Commit()
}

// Remove deletes an instance's directory.
func (r Registry) Remove(name string) error {
	return os.RemoveAll(filepath.Join(r.Dir, name))
}

// startGrace is how long an instance may exist without a state file.
const startGrace = time.Minute

// Get returns a live instance. An instance whose processes are gone —
// killed corun, crashed host process — is removed and reported missing.
func (r Registry) Get(name string) (Record, error) {
	dir := filepath.Join(r.Dir, name)
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		if fi, serr := os.Stat(dir); serr == nil && time.Since(fi.ModTime()) > startGrace {
			os.RemoveAll(dir) // never got as far as saving its state
		}
		return Record{}, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	var rec Record
	if err := json.Unmarshal(data, &rec); err != nil {
		os.RemoveAll(dir)
		return Record{}, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	rec.Dir = dir
	if !Alive(rec.Owner) && !Alive(rec.PID) {
		os.RemoveAll(dir)
		return Record{}, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	return rec, nil
}

// List returns the live instances by name, cleaning up stale ones.
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

// Alive reports whether process pid exists.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
