package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/colinux-ng/colinux/driver"
	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/console"
	conet "github.com/colinux-ng/colinux/driver/net"
	"github.com/colinux-ng/colinux/driver/qmp"
	"github.com/colinux-ng/colinux/runtime/initramfs"
	"github.com/colinux-ng/colinux/runtime/kmod"
)

// Name is the backend's name in the driver registry.
const Name = "qemu"

func init() { driver.Register(Name, Backend{}) }

// Backend runs guests under QEMU. It implements driver.Backend; its stop
// and status requests go through QMP.
type Backend struct{}

// ErrNoVirtiofsd: cofs shares need virtiofsd, which the caller resolves
// (runtime.Cache.EnsureVirtiofsd) into the configuration.
var ErrNoVirtiofsd = errors.New("cofs under --monitor qemu needs virtiofsd, and none was found or fetched")

// Prepare checks what this backend cannot do.
func (Backend) Prepare(cfg *config.Config) error {
	if len(cfg.Shares) > 0 && len(cfg.Virtiofsd) == 0 {
		return ErrNoVirtiofsd
	}
	for _, nic := range cfg.NICs {
		if nic.Mode != config.Slirp && nic.Mode != config.TAP {
			return fmt.Errorf("eth%d: no %q network under QEMU", nic.Index, nic.Mode)
		}
	}
	return nil
}

// Stop presses Ctrl-Alt-Del (coinit and init systems turn it into a
// clean shutdown, as under UML) and the ACPI power button, or with force
// tells QEMU to quit.
func (Backend) Stop(ctx context.Context, inst *driver.Instance, force bool) error {
	c, err := qmp.Dial(ctx, QMPPath(inst.Dir))
	if err != nil {
		return err
	}
	defer c.Close()
	if force {
		_, err := c.Execute(ctx, "quit", nil)
		if errors.Is(err, qmp.ErrClosed) {
			return nil // QEMU quit before it answered
		}
		return err
	}
	keys := []map[string]string{{"type": "qcode", "data": "ctrl"}, {"type": "qcode", "data": "alt"}, {"type": "qcode", "data": "delete"}}
	if _, err := c.Execute(ctx, "send-key", map[string]any{"keys": keys}); err != nil {
		return err
	}
	_, err = c.Execute(ctx, "system_powerdown", nil)
	return err
}

// Status asks QEMU for the run state through QMP.
func (Backend) Status(ctx context.Context, inst *driver.Instance) error {
	c, err := qmp.Dial(ctx, QMPPath(inst.Dir))
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.QueryStatus(ctx)
	return err
}

// tailBytes of console output are kept for error reports.
const tailBytes = 16 << 10

// socketPair returns the two ends of a unix socket pair of the given type.
func socketPair(typ int, name string) (host, guest *os.File, err error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, typ|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("%s socket: %w", name, err)
	}
	return os.NewFile(uintptr(fds[0]), name), os.NewFile(uintptr(fds[1]), name+"-guest"), nil
}

// Run boots the guest and waits for QEMU to exit.
func (Backend) Run(ctx context.Context, inst *driver.Instance) (driver.Result, error) {
	cfg := inst.Config
	defer cleanup(inst)
	boot, err := withModules(inst)
	if err != nil {
		return driver.Result{}, err
	}
	if err := prepareOverlays(ctx, inst); err != nil {
		return driver.Result{}, err
	}
	stopShares, err := startShares(ctx, inst)
	if err != nil {
		return driver.Result{}, err
	}
	defer stopShares()
	var hostEnds, guestEnds []*os.File
	defer func() { closeAll(hostEnds) }()
	for _, name := range []string{"console", "status", "qmp"} {
		h, g, err := socketPair(syscall.SOCK_STREAM, name)
		if err != nil {
			closeAll(guestEnds)
			return driver.Result{}, err
		}
		hostEnds, guestEnds = append(hostEnds, h), append(guestEnds, g)
	}
	conHost, statusR, eventsHost := hostEnds[0], hostEnds[1], hostEnds[2]
	stopNetworks, nicEnds, err := startNetworks(inst)
	if err != nil {
		closeAll(guestEnds)
		return driver.Result{}, err
	}
	defer stopNetworks()
	guestEnds = append(guestEnds, nicEnds...)

	qemu, err := exec.LookPath(Binary())
	if err != nil {
		closeAll(guestEnds)
		return driver.Result{}, fmt.Errorf("%w (Debian package qemu-system-x86)", err)
	}
	kvm, why := Accel()
	if !kvm {
		fmt.Fprintf(inst.Log, "corun: QEMU emulates the CPU (TCG): %s\n", why)
	}
	tail := console.NewTail(tailBytes)
	logw := io.MultiWriter(tail, inst.Log)
	proc, err := inst.Start(driver.Process{
		Path: qemu, Args: args(cfg, inst.Dir, boot, kvm, inst.X11),
		Stdout: logw, Stderr: logw,
		ExtraFiles: guestEnds, // fdConsole, fdStatus, fdEvents, fdNICs…
		Policy:     policy(cfg, qemu, inst.Dir, boot, kvm),
	})
	closeAll(guestEnds)
	if errors.Is(err, driver.ErrStopped) {
		return driver.Result{}, nil
	}
	if err != nil {
		return driver.Result{}, &driver.GuestError{Err: driver.ErrKernelStart, Msg: err.Error()}
	}

	guest := driver.PumpGuest(inst, conHost, statusR, logw)
	mon := watch(eventsHost, inst.Log)
	stalled := false
	if kvm && cfg.Initrd == "" {
		select {
		case <-guest.Up():
		case <-proc.Done():
		case <-time.After(kvmBootLimit):
			stalled = true
			markStalled()
			syscall.Kill(-proc.Pid, syscall.SIGKILL)
		}
	}
	waitErr := proc.Wait()
	events := guest.Drain()
	eventsHost.Close()
	<-mon.done
	if stalled {
		return driver.Result{}, &driver.GuestError{Err: driver.ErrKernelStart, Tail: tail.Report(20),
			Msg: fmt.Sprintf("under KVM the guest did not reach coinit within %v; this host's KVM may not run Linux (nested virtualization); %s=tcg runs QEMU without it", kvmBootLimit, AccelEnv)}
	}
	if mon.panicked || mon.shutdown == "guest-panic" {
		return driver.Result{}, &driver.GuestError{Err: driver.ErrGuestCrash, Msg: "the guest kernel panicked", Tail: tail.Report(20)}
	}
	return driver.Outcome(cfg, events, waitErr, ctx.Err() != nil, tail.Report(20))
}

// kvmBootLimit is how long a KVM guest may take to reach coinit: well
// under a second where KVM works. A KVM that passes the probe but cannot
// boot Linux is caught here instead of hanging.
const kvmBootLimit = 30 * time.Second

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// events is what the supervisor's QMP connection saw.
type events struct {
	done     chan struct{}
	panicked bool   // GUEST_PANICKED
	shutdown string // the SHUTDOWN event's reason
}

// watch reads QMP events on the supervisor's connection until QEMU ends.
func watch(f *os.File, log io.Writer) *events {
	ev := &events{done: make(chan struct{})}
	go func() {
		defer close(ev.done)
		conn, err := net.FileConn(f)
		if err != nil {
			fmt.Fprintf(log, "corun: qmp: %v\n", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		c, err := qmp.NewClient(ctx, conn)
		cancel()
		if err != nil {
			fmt.Fprintf(log, "corun: qmp: %v\n", err)
			return
		}
		defer c.Close()
		for m := range c.Events() {
			switch m.Event {
			case "GUEST_PANICKED":
				ev.panicked = true
			case "SHUTDOWN":
				var d struct {
					Reason string `json:"reason"`
				}
				json.Unmarshal(m.Data, &d)
				ev.shutdown = d.Reason
			}
		}
	}()
	return ev
}

// moduleInitramfs is the instance's initramfs: corun's, with the kernel's
// modules for the devices and an X11 guest's Xauthority appended.
const moduleInitramfs = "initramfs-modules.cpio"

// withModules returns the initramfs to boot: corun's coinit archive
// extended by the modules Modules names, resolved in the kernel's module
// tree, and the guest's Xauthority (see x11.Forwarder.GuestFile); or the
// archive alone when there is nothing to add.
func withModules(inst *driver.Instance) (string, error) {
	cfg := inst.Config
	if cfg.Initrd != "" {
		return cfg.Initramfs, nil
	}
	var files []initramfs.File
	if cfg.Modules != "" {
		tree, err := kmod.Open(cfg.Modules)
		if err != nil {
			return "", err
		}
		names := Modules
		if len(cfg.Shares) > 0 {
			names = append(slices.Clip(names), shareModule)
		}
		mods, err := tree.Resolve(names...)
		if err != nil {
			return "", fmt.Errorf("guest kernel %s: %w", cfg.KernelVersion, err)
		}
		if files, err = initramfs.ModuleFiles(mods); err != nil {
			return "", err
		}
	}
	if inst.X11 != nil {
		files = append(files, inst.X11.GuestFile())
	}
	if len(files) == 0 {
		return cfg.Initramfs, nil
	}
	dest := filepath.Join(inst.Dir, moduleInitramfs)
	return dest, initramfs.Extend(dest, cfg.Initramfs, files)
}

// prepareOverlays makes the throwaway qcow2 files --snapshot writes to;
// the images are their read-only backing files.
func prepareOverlays(ctx context.Context, inst *driver.Instance) error {
	if !inst.Config.Snapshot {
		return nil
	}
	for _, d := range inst.Config.Disks {
		out, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", d.Path, overlayFile(inst.Dir, d.Index)).CombinedOutput()
		if err != nil {
			return fmt.Errorf("cobd%d: snapshot overlay: %v: %s", d.Index, err, out)
		}
	}
	return nil
}

// startNetworks brings up the host side of every interface before the
// guest boots and returns QEMU's ends of the user-mode NICs' socket
// pairs, in the order of the configuration. stop tears them down once the
// guest is gone.
func startNetworks(inst *driver.Instance) (stop func(), guestEnds []*os.File, err error) {
	cfg := inst.Config
	var closers []func() error
	stop = func() {
		for _, c := range closers {
			c()
		}
	}
	fail := func(err error) (func(), []*os.File, error) {
		stop()
		closeAll(guestEnds)
		return nil, nil, err
	}
	x11NIC, _ := driver.X11NIC(cfg)
	for _, nic := range cfg.NICs {
		switch nic.Mode {
		case config.Slirp:
			ucfg := conet.UserConfig{MAC: conet.NICMAC(cfg.Name, nic), Forwards: nic.Forwards, DNS: cfg.DNS}
			if inst.X11 != nil && nic.Index == x11NIC.Index {
				ucfg.Services = append(ucfg.Services, inst.X11.Service())
			}
			un, err := conet.Listen(ucfg)
			if err != nil {
				return fail(fmt.Errorf("eth%d: %w", nic.Index, err))
			}
			closers = append(closers, un.Close)
			h, g, err := socketPair(syscall.SOCK_DGRAM, fmt.Sprintf("eth%d", nic.Index))
			if err != nil {
				return fail(err)
			}
			guestEnds = append(guestEnds, g)
			conn, err := net.FileConn(h)
			h.Close()
			if err != nil {
				return fail(fmt.Errorf("eth%d: %w", nic.Index, err))
			}
			if err := un.Attach(conn.(*net.UnixConn)); err != nil {
				conn.Close()
				return fail(fmt.Errorf("eth%d: %w", nic.Index, err))
			}
		case config.TAP:
			t, err := conet.OpenTAP(conet.NICTAP(cfg.Name, nic), driver.MonitorUID(cfg))
			if err != nil {
				return fail(fmt.Errorf("eth%d: %w", nic.Index, err))
			}
			closers = append(closers, t.Close)
		}
	}
	return stop, guestEnds, nil
}

// cleanup removes what Run made in the instance directory.
func cleanup(inst *driver.Instance) {
	os.Remove(QMPPath(inst.Dir))
	os.Remove(filepath.Join(inst.Dir, moduleInitramfs))
	if inst.Config.Snapshot {
		for _, d := range inst.Config.Disks {
			os.Remove(overlayFile(inst.Dir, d.Index))
		}
	}
}
