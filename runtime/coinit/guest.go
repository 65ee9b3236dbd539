package coinit

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

const newRoot = "/newroot"

// Filesystems tried, in order, when the host could not tell the type.
var commonFS = []string{"ext4", "ext3", "ext2", "xfs", "btrfs"}

// Main runs coinit and never returns: the guest powers off, or /sbin/init
// replaces this process.
func Main() {
	status, err := run()
	if err != nil {
		fmt.Fprintf(os.Stderr, "coinit: %v\n", err)
		report(status, "%s %s", statusError, strings.ReplaceAll(err.Error(), "\n", " "))
	}
	powerOff()
}

// run returns the status channel (nil if it could not be opened) and an
// error when the guest cannot start.
func run() (*os.File, error) {
	// A bad configuration is reported once the status channel is open.
	cfg, cfgErr := decodeConfig(os.Getenv(Param))
	var sysFlags uintptr
	if cfg.SysfsReadOnly {
		sysFlags = unix.MS_RDONLY
	}
	for _, m := range []struct {
		fstype, target string
		flags          uintptr
	}{
		{"devtmpfs", "/dev", 0}, {"proc", "/proc", 0}, {"sysfs", "/sys", sysFlags},
	} {
		if err := unix.Mount(m.fstype, m.target, m.fstype, m.flags, ""); err != nil {
			return nil, fmt.Errorf("mount %s: %w", m.target, err)
		}
	}
	statusTTY := StatusTTY
	if cfg.Status != "" {
		statusTTY = cfg.Status
	}
	status, err := os.OpenFile(statusTTY, os.O_WRONLY, 0)
	if err != nil {
		status = nil // not wired: the host did not ask for reports
	} else {
		rawOutput(status)
	}
	report(status, statusUp)
	loadModules()
	renameNICs()
	if cfgErr != nil {
		return status, cfgErr
	}
	waitForRoot(cfg.Root)
	if err := mountRoot(cfg); err != nil {
		return status, err
	}
	mountModules(cfg)
	for _, s := range cfg.Shares {
		if err := mountShare(s); err != nil {
			return status, err
		}
	}
	for _, d := range []string{"/dev", "/proc", "/sys"} {
		if fi, err := os.Stat(newRoot + d); err == nil && fi.IsDir() {
			if err := unix.Mount(d, newRoot+d, "", unix.MS_MOVE, ""); err != nil {
				return status, fmt.Errorf("move %s into the root: %w", d, err)
			}
		}
	}
	env, x11Mounts, err := setupX11(cfg)
	if err != nil {
		return status, err
	}
	if len(cfg.Command) == 0 {
		if status != nil {
			status.Close()
		}
		return nil, switchRoot(cfg.Init)
	}
	mounts := append(configureNetwork(cfg.DHCP), x11Mounts...)
	code, err := runCommand(cfg.Command, env, cfg.Console)
	unmountAll(cfg, mounts)
	if err != nil {
		return status, err
	}
	report(status, "%s %d", statusExit, code)
	return status, nil
}

func report(status *os.File, format string, args ...any) {
	if status != nil {
		fmt.Fprintf(status, format+"\n", args...)
	}
}

// rawOutput turns off output post-processing on a guest tty, so that the
// host sees "\n" as the program wrote it, not "\r\n".
func rawOutput(f *os.File) {
	t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		return
	}
	t.Oflag &^= unix.OPOST
	unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t)
}

func mountRoot(cfg Config) error {
	var flags uintptr
	if cfg.ReadOnly {
		flags = unix.MS_RDONLY
	}
	types := commonFS
	if cfg.FSType != "" {
		types = []string{cfg.FSType}
	}
	var errs []error
	for _, t := range types {
		err := unix.Mount(cfg.Root, newRoot, t, flags, "")
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", t, err))
	}
	return fmt.Errorf("mount root %s: %w", cfg.Root, errors.Join(errs...))
}

// mountModules shows the host's module tree for the running kernel at
// /lib/modules/<version>. A read-only root without that directory simply
// goes without modules.
func mountModules(cfg Config) {
	if cfg.Modules == "" || cfg.KernelVersion == "" {
		return
	}
	target := filepath.Join(newRoot, "lib/modules", cfg.KernelVersion)
	if err := os.MkdirAll(target, 0o755); err != nil {
		return
	}
	if err := unix.Mount("none", target, "hostfs", unix.MS_RDONLY, cfg.Modules); err != nil {
		fmt.Fprintf(os.Stderr, "coinit: kernel modules not available: %v\n", err)
	}
}

func mountShare(s Share) error {
	target := filepath.Join(newRoot, path.Clean("/"+s.Target))
	if err := os.MkdirAll(target, 0o755); err != nil {
		return fmt.Errorf("cofs mount point %s: %w", s.Target, err)
	}
	var flags uintptr
	if s.ReadOnly {
		flags = unix.MS_RDONLY
	}
	var err error
	if s.FSType == ShareVirtiofs {
		err = unix.Mount(s.Source, target, ShareVirtiofs, flags, "")
	} else {
		err = unix.Mount("none", target, "hostfs", flags, s.Source)
	}
	if err != nil {
		return fmt.Errorf("mount cofs %s on %s: %w", s.Source, s.Target, err)
	}
	return nil
}

// runMounted is set once mountRun made the tmpfs.
var runMounted bool

// mountRun gives the new root a fresh tmpfs on /run, as an initramfs
// leaves it for the init system: once, for whoever needs it first (the X
// display, DNS through systemd-resolved's link). It returns the mount the
// first time.
func mountRun() ([]string, error) {
	if runMounted {
		return nil, nil
	}
	run := newRoot + "/run"
	if err := os.MkdirAll(run, 0o755); err != nil {
		return nil, fmt.Errorf("the guest root has no /run: %w", err)
	}
	if err := unix.Mount("tmpfs", run, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return nil, fmt.Errorf("mount /run: %w", err)
	}
	runMounted = true
	return []string{run}, nil
}

// switchRoot makes /newroot the root, as switch_root(8) does, and execs
// the image's init. The initramfs is left in memory: freeing its few
// megabytes is not worth walking it.
func switchRoot(init string) error {
	if init == "" {
		init = "/sbin/init"
	}
	if err := os.Chdir(newRoot); err != nil {
		return err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("switch root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("switch root: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	err := unix.Exec(init, []string{init}, []string{"HOME=/", "TERM=linux"})
	return fmt.Errorf("exec %s: %w", init, err)
}

const guestPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// runCommand runs argv inside the new root with the console as its
// standard output and error and env added to its environment, reaping
// every orphan as PID 1 must, and returns its exit status (128+signal
// when killed). SIGINT or SIGTERM, which the host sends through mconsole,
// is passed on to the command.
func runCommand(argv, env []string, console string) (int, error) {
	prog, err := lookPath(argv[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "coinit: %v\n", err)
		return 127, nil
	}
	// With Ctrl-Alt-Del off, the kernel turns mconsole's "cad" into
	// SIGINT for PID 1 instead of an immediate reboot.
	unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM)
	null, err := os.Open(newRoot + "/dev/null")
	if err != nil {
		null = nil
	}
	// The first console line, not /dev/console: in command mode the host
	// points the kernel's console at the status line.
	if console == "" {
		console = ConsoleTTY
	}
	out, err := os.OpenFile(newRoot+console, os.O_WRONLY, 0)
	if err != nil { // the root has no /dev, so devtmpfs stayed here
		if out, err = os.OpenFile(console, os.O_WRONLY, 0); err != nil {
			out = os.Stdout
		}
	}
	rawOutput(out)
	proc, err := os.StartProcess(prog, argv, &os.ProcAttr{
		Dir:   "/",
		Env:   append([]string{"PATH=" + guestPath, "HOME=/root", "TERM=linux"}, env...),
		Files: []*os.File{null, out, out},
		Sys:   &syscall.SysProcAttr{Chroot: newRoot, Setsid: true},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "coinit: %v\n", err)
		return 126, nil
	}
	go func() {
		for range sigs {
			unix.Kill(-proc.Pid, unix.SIGTERM)
		}
	}()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("wait for %s: %w", argv[0], err)
		}
		if pid != proc.Pid {
			continue
		}
		unix.Kill(-1, unix.SIGKILL) // whatever the command left behind
		for {
			if _, err := unix.Wait4(-1, nil, 0, nil); err == unix.ECHILD {
				break
			}
		}
		if ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ws.ExitStatus(), nil
	}
}

// lookPath finds name in the new root's PATH the way a shell would. A
// symlink is taken as found without following it: its target is relative
// to the new root, which the kernel resolves after the chroot.
func lookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		if _, err := os.Lstat(newRoot + path.Clean("/"+name)); err != nil {
			return "", fmt.Errorf("%s: no such file in the guest", name)
		}
		return name, nil
	}
	for _, dir := range strings.Split(guestPath, ":") {
		p := dir + "/" + name
		if fi, err := os.Lstat(newRoot + p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: command not found in the guest", name)
}

// unmountAll leaves the root filesystem clean before power-off: shares,
// modules and the other mounts are unmounted, then the root; if anything
// still holds the root, it is at least remounted read-only so the journal
// is closed.
func unmountAll(cfg Config, others []string) {
	unix.Sync()
	targets := others
	for _, s := range cfg.Shares {
		targets = append(targets, filepath.Join(newRoot, path.Clean("/"+s.Target)))
	}
	if cfg.Modules != "" && cfg.KernelVersion != "" {
		targets = append(targets, filepath.Join(newRoot, "lib/modules", cfg.KernelVersion))
	}
	targets = append(targets, newRoot+"/dev", newRoot+"/proc", newRoot+"/sys")
	for _, t := range targets {
		unix.Unmount(t, 0)
	}
	if err := unix.Unmount(newRoot, 0); err != nil {
		unix.Mount("", newRoot, "", unix.MS_REMOUNT|unix.MS_RDONLY, "")
	}
	unix.Sync()
}

func powerOff() {
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {} // PID 1 must not exit
}
