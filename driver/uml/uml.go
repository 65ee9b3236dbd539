package uml

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/colinux-ng/colinux/driver"
	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/console"
	"github.com/colinux-ng/colinux/driver/instance"
	"github.com/colinux-ng/colinux/driver/mconsole"
)

// Name is the backend's name in the driver registry.
const Name = "uml"

func init() { driver.Register(Name, Backend{}) }

// Backend runs guests under User-mode Linux. It implements
// driver.Backend; its stop and status requests go through mconsole.
type Backend struct{}

// Prepare checks what User-mode Linux cannot do.
func (Backend) Prepare(cfg *config.Config) error {
	if cfg.CPUs > 1 {
		return fmt.Errorf("cpus=%d: User-mode Linux runs one CPU (Debian's UML kernels are built for one); use --monitor qemu for more", cfg.CPUs)
	}
	for _, nic := range cfg.NICs {
		if nic.Mode != config.Slirp && nic.Mode != config.TAP {
			return fmt.Errorf("eth%d: User-mode Linux has no %q network", nic.Index, nic.Mode)
		}
	}
	return nil
}

// MconsolePath returns the mconsole socket of the instance in dir.
func MconsolePath(dir, umid string) string { return filepath.Join(dir, umlDir, umid, "mconsole") }

// Stop sends Ctrl-Alt-Del (coinit and init systems turn it into a clean
// shutdown) or, with force, halt.
func (Backend) Stop(ctx context.Context, inst *driver.Instance, force bool) error {
	req := "cad"
	if force {
		req = "halt"
	}
	_, err := mconsole.Do(ctx, MconsolePath(inst.Dir, inst.Name), req)
	return err
}

// Status asks the kernel its version through mconsole.
func (Backend) Status(ctx context.Context, inst *driver.Instance) error {
	_, err := mconsole.Do(ctx, MconsolePath(inst.Dir, inst.Name), "version")
	return err
}

// tailBytes of console output are kept for error reports.
const tailBytes = 16 << 10

// Run boots the guest and waits for it to power off.
func (Backend) Run(ctx context.Context, inst *driver.Instance) (driver.Result, error) {
	cfg := inst.Config
	if err := prepareHostfs(inst); err != nil {
		return driver.Result{}, err
	}
	defer cleanup(inst)
	memDir, err := memoryDir(inst.Name)
	if err != nil {
		return driver.Result{}, err
	}
	defer os.RemoveAll(memDir)
	if err := instance.AddScratch(inst.Dir, memDir); err != nil {
		return driver.Result{}, err
	}
	if err := giveScratch(driver.MonitorUID(cfg), memDir, filepath.Join(inst.Dir, umlDir)); err != nil {
		return driver.Result{}, err
	}
	stopNetworks, err := startNetworks(inst)
	if err != nil {
		return driver.Result{}, err
	}
	defer stopNetworks()

	pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return driver.Result{}, fmt.Errorf("console socket: %w", err)
	}
	conHost, conGuest := os.NewFile(uintptr(pair[0]), "console"), os.NewFile(uintptr(pair[1]), "console-guest")
	defer conHost.Close()
	statusR, statusW, err := os.Pipe()
	if err != nil {
		conGuest.Close()
		return driver.Result{}, err
	}
	defer statusR.Close()

	boot, err := withX11Initramfs(inst)
	if err != nil {
		conGuest.Close()
		statusW.Close()
		return driver.Result{}, err
	}
	tail := console.NewTail(tailBytes)
	logw := io.MultiWriter(tail, inst.Log)
	// UML keeps its memory in files in $TMPDIR; the host's own must not
	// come first.
	env := append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "TMPDIR=") }),
		"TMPDIR="+memDir)
	proc, err := inst.Start(driver.Process{
		Path: cfg.Kernel, Args: args(boot, inst.Dir, inst.X11), Env: env,
		Stdout: logw, Stderr: logw,
		ExtraFiles: []*os.File{conGuest, statusW}, // fdConsole, fdStatus
		Policy:     policy(boot, inst.Dir, memDir),
	})
	conGuest.Close()
	statusW.Close()
	if errors.Is(err, driver.ErrStopped) {
		return driver.Result{}, nil
	}
	if err != nil {
		return driver.Result{}, &driver.GuestError{Err: driver.ErrKernelStart, Msg: err.Error()}
	}

	guest := driver.PumpGuest(inst, conHost, statusR, logw)
	waitErr := proc.Wait()
	events := guest.Drain()
	return driver.Outcome(cfg, events, waitErr, ctx.Err() != nil, tail.Report(20))
}

// withX11Initramfs returns the configuration to boot: for an X11 guest,
// one whose initramfs also carries the guest's Xauthority (see
// initramfs.Extend), written to the instance directory.
func withX11Initramfs(inst *driver.Instance) (*config.Config, error) {
	if inst.X11 == nil {
		return inst.Config, nil
	}
	withAuth := *inst.Config
	withAuth.Initramfs = filepath.Join(inst.Dir, x11Initramfs)
	if err := inst.X11.Initramfs(withAuth.Initramfs, inst.Config.Initramfs); err != nil {
		return nil, err
	}
	return &withAuth, nil
}

// prepareHostfs fills the hostfs root with links to what the guest may
// reach: the kernel modules and each cofs share. hostfs resolves paths on
// the host, so a link there leads to its target; on its own this is no
// boundary (the guest can name any host path in its mount options), the
// confinement of the kernel process is (see confine.go). It also makes
// umlDir, the one directory the kernel writes in.
func prepareHostfs(inst *driver.Instance) error {
	root := filepath.Join(inst.Dir, hostfsDir)
	if err := os.RemoveAll(root); err != nil {
		return err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(inst.Dir, umlDir), 0o700); err != nil {
		return err
	}
	links := map[string]string{}
	if inst.Config.Modules != "" {
		links[modulesDir] = inst.Config.Modules
	}
	for _, s := range inst.Config.Shares {
		links[shareName(s.Index)] = s.Path
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			return err
		}
	}
	return nil
}

// cleanup removes what Run made in the instance directory.
func cleanup(inst *driver.Instance) {
	os.RemoveAll(filepath.Join(inst.Dir, hostfsDir))
	os.RemoveAll(filepath.Join(inst.Dir, umlDir)) // uml_dir and the COW files
	os.Remove(filepath.Join(inst.Dir, x11Initramfs))
}
