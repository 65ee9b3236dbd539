package qemu

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/colinux-ng/colinux/driver"
	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/console"
	"github.com/colinux-ng/colinux/runtime/coinit"
)

// cofs shares are virtiofs devices: one virtiofsd a share, serving the
// host directory on a vhost-user socket in the instance directory, tagged
// cofsN for coinit. Debian's cloud kernel has virtiofs (and no 9p).

// shareModule is the guest module for cofs; kmod adds fuse.
const shareModule = "virtiofs"

func shareTag(n int) string { return "cofs" + strconv.Itoa(n) }

func shareSocket(dir string, n int) string {
	return filepath.Join(dir, shareTag(n)+".sock")
}

// shareStartLimit bounds how long a virtiofsd may take to listen.
const shareStartLimit = 10 * time.Second

// startShares starts a virtiofsd for each share and waits until each
// listens. virtiofsd sandboxes itself (mount and user namespaces, the
// share as its root), needs no privileges, refuses writes to a ,ro
// share whatever the guest mounts, and exits when QEMU disconnects; stop
// ends any that are left.
func startShares(ctx context.Context, inst *driver.Instance) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, s := range stops {
			s()
		}
		for _, s := range inst.Config.Shares {
			os.Remove(shareSocket(inst.Dir, s.Index))
		}
	}
	for _, s := range inst.Config.Shares {
		st, err := startVirtiofsd(ctx, inst, s)
		if err != nil {
			stop()
			return nil, err
		}
		stops = append(stops, st)
	}
	return stop, nil
}

// startVirtiofsd starts the share's virtiofsd and returns a function
// that ends it.
func startVirtiofsd(ctx context.Context, inst *driver.Instance, s config.Share) (stop func(), err error) {
	vfs := inst.Config.Virtiofsd
	sock := shareSocket(inst.Dir, s.Index)
	os.Remove(sock) // a crashed run's
	args := append(vfs[1:len(vfs):len(vfs)],
		"--shared-dir", s.Path, "--socket-path", sock,
		"--sandbox", "namespace", "--rlimit-nofile", "0", "--log-level", "warn")
	if s.ReadOnly {
		args = append(args, "--readonly")
	}
	tail := console.NewTail(4 << 10)
	cmd := exec.Command(vfs[0], args...)
	cmd.Stdout, cmd.Stderr = tail, tail
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cofs%d: virtiofsd: %w", s.Index, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fail := func(why string) (func(), error) {
		cmd.Process.Kill()
		<-exited
		return nil, fmt.Errorf("cofs%d: virtiofsd %s: %s", s.Index, why, tail.Lines(10))
	}
	deadline := time.After(shareStartLimit)
	for {
		if fi, err := os.Stat(sock); err == nil && fi.Mode()&os.ModeSocket != 0 {
			break
		}
		select {
		case err := <-exited:
			exited <- err
			return fail(fmt.Sprintf("exited (%v)", err))
		case <-deadline:
			return fail(fmt.Sprintf("did not listen within %v", shareStartLimit))
		case <-ctx.Done():
			return fail("interrupted")
		case <-time.After(10 * time.Millisecond):
		}
	}
	return func() {
		select {
		case err := <-exited: // on its own, after QEMU disconnected
			if err != nil {
				fmt.Fprintf(inst.Log, "corun: cofs%d: virtiofsd: %v: %s\n", s.Index, err, tail.Lines(10))
			}
		default:
			cmd.Process.Kill()
			<-exited
		}
	}, nil
}

// shareArgs are QEMU's options for the shares: vhost-user needs the
// guest's memory shared with virtiofsd, hence a memfd backend as its one
// NUMA node.
func shareArgs(m *config.Config, dir string, memMiB int) []string {
	if len(m.Shares) == 0 {
		return nil
	}
	a := []string{
		"-object", fmt.Sprintf("memory-backend-memfd,id=mem,size=%dM,share=on", memMiB),
		"-numa", "node,memdev=mem",
	}
	for _, s := range m.Shares {
		tag := shareTag(s.Index)
		a = append(a, "-chardev", fmt.Sprintf("socket,id=%s,path=%s", tag, escape(shareSocket(dir, s.Index))),
			"-device", fmt.Sprintf("vhost-user-fs-pci,chardev=%s,tag=%s", tag, tag))
	}
	return a
}

// coinitShares tells coinit to mount each share's virtiofs tag.
func coinitShares(m *config.Config) []coinit.Share {
	var out []coinit.Share
	for _, s := range m.Shares {
		out = append(out, coinit.Share{Source: shareTag(s.Index), FSType: coinit.ShareVirtiofs, Target: s.Target, ReadOnly: s.ReadOnly})
	}
	return out
}
