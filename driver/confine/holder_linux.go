package confine

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"syscall"
)

// owner is the uid and gid owning a file, as on disk.
type owner struct{ UID, GID uint32 }

func (o owner) key() string { return fmt.Sprintf("%d:%d", o.UID, o.GID) }

func ownerOf(path string) (owner, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return owner{}, err
	}
	st := fi.Sys().(*syscall.Stat_t)
	return owner{st.Uid, st.Gid}, nil
}

// owners are the distinct owners of the paths bound into the jail
// (device nodes get nodes of their own: makeNode).
func (r resolved) owners() []owner {
	var out []owner
	for _, list := range [][]string{r.Exec, r.Read, r.ReadWrite} {
		for _, p := range list {
			if o, err := ownerOf(p); err == nil && !slices.Contains(out, o) {
				out = append(out, o)
			}
		}
	}
	return out
}

// holder keeps a user namespace alive that maps an owner's ids to the
// dropped uid and gid: an idmapped mount through it shows that owner's
// files as the dropped user's, and files the dropped user creates are
// stored as the owner's.
type holder struct {
	ns    *os.File
	stdin io.WriteCloser
	cmd   *exec.Cmd
}

func newHolder(o owner, uid, gid int) (*holder, error) {
	// Any program that waits for the end of its input holds it; cat
	// starts faster than corun itself.
	cmd := exec.Command("cat")
	if _, err := exec.LookPath("cat"); err != nil {
		cmd = exec.Command("/proc/self/exe")
		cmd.Env = []string{envSpec + "=" + holdMode}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: int(o.UID), HostID: uid, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: int(o.GID), HostID: gid, Size: 1}},
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h := &holder{stdin: stdin, cmd: cmd}
	h.ns, err = os.Open(fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid))
	if err != nil {
		h.close()
		return nil, err
	}
	return h, nil
}

func (h *holder) close() {
	h.stdin.Close()
	h.cmd.Wait()
	if h.ns != nil {
		h.ns.Close()
	}
}
