package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"github.com/colinux-ng/colinux/driver"
	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/console"
	"github.com/colinux-ng/colinux/driver/instance"
	"github.com/colinux-ng/colinux/driver/uml"
	"github.com/colinux-ng/colinux/driver/x11"
	"github.com/colinux-ng/colinux/runtime"
	"github.com/colinux-ng/colinux/runtime/initramfs"
)

var runCommand = &cli.Command{
	Name:  "run",
	Usage: "boot a cobd image; with -- CMD, run CMD in it and exit with its status",
	ArgsUsage: "[IMAGE] [key=value…] [@file…] [-- CMD ARGS…]\n\n" +
		"   Settings are coLinux's: cobd0..15=FILE[,ro], cofs0..31=DIR[,/guest/path][,ro], mem=MiB,\n" +
		"   eth0=slirp[,MAC][,tcp:HOST:GUEST[:COUNT]/…] (user-mode NAT) or eth0=tuntap[,IFNAME][,MAC] (root),\n" +
		"   kernel=, initrd=, root=, ro; @FILE reads a configuration file; other words go to the kernel.\n" +
		"   Without a command the console is attached; Ctrl-] detaches.",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "name", Usage: "instance name (default: from the image's file name)"},
		&cli.BoolFlag{Name: "snapshot", Usage: "write to throwaway copy-on-write files; the images stay untouched"},
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "boot in the background; corun attach NAME shows the console"},
		&cli.StringFlag{Name: "log", Usage: "append the console and kernel output to `FILE`"},
		&cli.DurationFlag{Name: "stop-timeout", Value: uml.DefaultStopTimeout, Usage: "graceful shutdown time on Ctrl-C before the guest is halted"},
		&cli.StringSliceFlag{Name: "publish", Aliases: []string{"p"}, Usage: "publish a guest port on the host; `SPEC` is [ADDR:]HOST:GUEST[/udp], ADDR 127.0.0.1 by default; adds eth0=slirp if no interface is set"},
		&cli.BoolFlag{Name: "x11", Usage: "show the guest's X programs on the host's display ($DISPLAY), through eth0's gateway; same as x11=on"},
		&cli.StringFlag{Name: "dns", Usage: "forward the user-mode network's DNS queries to `HOST:PORT` (default: the host's resolvers)"},
		&cli.StringFlag{Name: "mirror", Usage: "Debian mirror for the first kernel fetch (default: from the host's apt sources)"},
		&cli.StringFlag{Name: "suite", Usage: "Debian suite for the first kernel fetch (default: the host's release)"},
		&cli.BoolFlag{Name: supervisedFlag, Hidden: true},
	},
	Action: runAction,
}

// supervisedFlag marks the background corun that owns a console-mode
// guest; its fd 3 reports readiness to the corun that started it.
const supervisedFlag = "supervised"

func runAction(c *cli.Context) error {
	settings, command, err := splitRunArgs(c.Args().Slice())
	if err != nil {
		return err
	}
	if len(command) > 0 {
		res, err := launch(c, settings, command, stderrReporter{}, nil)
		if err != nil {
			return &exitError{code: exitFailure, err: err}
		}
		return &exitError{code: res.ExitCode}
	}
	if c.Bool(supervisedFlag) {
		rep := pipeReporter{os.NewFile(3, "ready")}
		srv := func(dir string) (*console.Server, error) { return console.Listen(filepath.Join(dir, consoleSocket)) }
		if _, err := launch(c, settings, nil, rep, srv); err != nil {
			rep.fail(err)
			return &exitError{code: exitFailure}
		}
		return nil
	}
	name, err := startSupervisor(c)
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	if c.Bool("detach") {
		fmt.Fprintln(c.App.Writer, name)
		return nil
	}
	return attach(c, name)
}

// splitRunArgs separates settings from the command after "--". The first
// bare word, if it is not a setting, is the image: cobd0.
func splitRunArgs(args []string) (settings, command []string, err error) {
	for i, a := range args {
		if a == "--" {
			command = args[i+1:]
			if len(command) == 0 {
				return nil, nil, errors.New("nothing after --: give a command to run")
			}
			args = args[:i]
			break
		}
	}
	for i, a := range args {
		if strings.HasPrefix(a, "-") {
			return nil, nil, fmt.Errorf("flag %s must come before the image and settings", a)
		}
		if i == 0 && !strings.Contains(a, "=") && !strings.HasPrefix(a, "@") {
			a = "cobd0=" + a
		}
		settings = append(settings, a)
	}
	return settings, command, nil
}

// reporter tells the user (or the corun waiting for a supervisor) how
// starting goes.
type reporter interface {
	warn(msg string)
	ready(name string)
}

type stderrReporter struct{}

func (stderrReporter) warn(msg string) { fmt.Fprintln(os.Stderr, "corun: warning:", msg) }
func (stderrReporter) ready(string)    {}

// pipeReporter writes one quoted message per line to the waiting corun.
type pipeReporter struct{ w io.WriteCloser }

func (p pipeReporter) warn(msg string) { fmt.Fprintf(p.w, "warning %s\n", strconv.Quote(msg)) }
func (p pipeReporter) ready(name string) {
	fmt.Fprintf(p.w, "ready %s\n", strconv.Quote(name))
	p.w.Close()
}
func (p pipeReporter) fail(err error) { fmt.Fprintf(p.w, "error %s\n", strconv.Quote(err.Error())) }

const consoleSocket = "console.sock"

// launch boots the guest and waits for it to end. Console mode passes
// serve, which opens the console server in the instance directory.
func launch(c *cli.Context, settings, command []string, rep reporter, serve func(dir string) (*console.Server, error)) (driver.Result, error) {
	ctx := c.Context
	cfg, err := config.Parse(settings)
	if err != nil {
		return driver.Result{}, err
	}
	for _, w := range cfg.Warnings {
		rep.warn(w)
	}
	if err := publish(cfg, c.StringSlice("publish")); err != nil {
		return driver.Result{}, err
	}
	var display *x11.Forwarder
	if c.Bool("x11") || cfg.X11 {
		if display, err = hostDisplay(cfg); err != nil {
			return driver.Result{}, err
		}
	}
	m, err := machine(ctx, c, cfg, command, display)
	if err != nil {
		return driver.Result{}, err
	}
	reg, err := instance.DefaultRegistry()
	if err != nil {
		return driver.Result{}, err
	}
	name, dir, err := createInstance(reg, c.String("name"), m)
	if err != nil {
		return driver.Result{}, err
	}
	m.Name = name
	defer reg.Remove(name)
	locks, err := lockImages(reg, m)
	if err != nil {
		return driver.Result{}, err
	}
	defer closeAll(locks)

	mon := &uml.Monitor{Machine: m, Dir: dir, Output: os.Stdout, Inherit: locks, StopTimeout: c.Duration("stop-timeout")}
	if serve != nil {
		srv, err := serve(dir)
		if err != nil {
			return driver.Result{}, err
		}
		defer srv.Close()
		mon.Output, mon.Input = srv, srv.Input
	}
	if p := c.String("log"); p != "" {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return driver.Result{}, err
		}
		defer f.Close()
		mon.Log = f
		if m.X11 != nil {
			m.X11.Log = f
		}
	}
	// The network libraries report through the standard and logrus
	// loggers; their messages belong in the log, not on the console.
	libLog := io.Discard
	if mon.Log != nil {
		libLog = mon.Log
	}
	log.SetOutput(libLog)
	logrus.SetOutput(libLog)
	rec := instance.Record{Name: name, Owner: os.Getpid(), Image: imageOf(m), Started: time.Now(), State: instance.Starting}
	if err := reg.Save(rec); err != nil {
		return driver.Result{}, err
	}
	mon.Started = func(pid int) {
		rec.PID, rec.State = pid, instance.Running
		reg.Save(rec)
		rep.ready(name)
	}
	return mon.Run(ctx)
}

// machine turns the configuration into what the monitor boots: kernel
// resolved, images checked, initramfs ready.
func machine(ctx context.Context, c *cli.Context, cfg *config.Config, command []string, display *x11.Forwarder) (*driver.Machine, error) {
	m := &driver.Machine{
		Initrd: cfg.Initrd, MemoryMiB: cfg.MemoryMiB, Root: cfg.Root, ReadOnly: cfg.ReadOnly, SysfsReadOnly: cfg.SysfsReadOnly,
		Disks: cfg.Disks, Shares: cfg.Shares, NICs: cfg.NICs, DNS: c.String("dns"), KernelArgs: cfg.KernelArgs,
		Snapshot: c.Bool("snapshot"), Command: command, X11: display,
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	for i, d := range m.Disks {
		abs, err := filepath.Abs(d.Path)
		if err != nil {
			return nil, err
		}
		m.Disks[i].Path = abs
		if _, err := driver.CheckImage(abs, d.Index); err != nil && (d.Index == 0 || !errors.Is(err, driver.ErrImage) || strings.Contains(err.Error(), "compressed")) {
			return nil, err
		}
	}
	for _, s := range m.Shares {
		if fi, err := os.Stat(s.Path); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("cofs%d: %s is not a directory", s.Index, s.Path)
		}
	}
	cache, err := runtime.DefaultCache()
	if err != nil {
		return nil, err
	}
	var k runtime.Kernel
	if cfg.Kernel != "" {
		k, err = runtime.Override(cfg.Kernel)
	} else {
		k, err = cache.Ensure(ctx, source(c))
	}
	if err != nil {
		return nil, err
	}
	m.Kernel, m.KernelVersion, m.Modules = k.Path, k.Release, k.Modules
	if m.Initrd == "" {
		if m.Initramfs, err = initramfs.Cached(cache.Dir); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// hostDisplay prepares forwarding of the host's display, making eth0 a
// user-mode interface when no interface is configured.
func hostDisplay(cfg *config.Config) (*x11.Forwarder, error) {
	f, err := x11.New(os.Getenv("DISPLAY"), x11.AuthorityFile())
	if err != nil {
		return nil, fmt.Errorf("--x11: %w", err)
	}
	if len(cfg.NICs) == 0 {
		cfg.NICs = []config.NIC{{Index: 0, Mode: config.Slirp}}
	}
	return f, nil
}

// publish adds --publish ports to the first user-mode interface, making
// eth0 one when no interface is configured.
func publish(cfg *config.Config, specs []string) error {
	if len(specs) == 0 {
		return nil
	}
	if len(cfg.NICs) == 0 {
		cfg.NICs = []config.NIC{{Index: 0, Mode: config.Slirp}}
	}
	i := slices.IndexFunc(cfg.NICs, func(n config.NIC) bool { return n.Mode == config.Slirp })
	if i < 0 {
		return errors.New("--publish needs a user-mode interface (ethN=slirp); forward ports to a TAP guest on the host instead")
	}
	for _, s := range specs {
		fw, err := config.ParsePublish(s)
		if err != nil {
			return err
		}
		cfg.NICs[i].Forwards = append(cfg.NICs[i].Forwards, fw)
	}
	return nil
}

func imageOf(m *driver.Machine) string {
	if d, ok := (&config.Config{Disks: m.Disks}).Disk(0); ok {
		return d.Path
	}
	return ""
}

var nameJunk = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// createInstance claims the given name, or one made from the image's file
// name (root, root-2, root-3…).
func createInstance(reg instance.Registry, name string, m *driver.Machine) (string, string, error) {
	if name != "" {
		dir, err := reg.Create(name)
		return name, dir, err
	}
	base := strings.SplitN(filepath.Base(imageOf(m)), ".", 2)[0]
	base = strings.Trim(nameJunk.ReplaceAllString(base, "-"), "-.")
	if base == "" {
		base = "guest"
	}
	for i := 1; ; i++ {
		n := base
		if i > 1 {
			n = fmt.Sprintf("%s-%d", base, i)
		}
		dir, err := reg.Create(n)
		if !errors.Is(err, instance.ErrExists) || i == 100 {
			return n, dir, err
		}
	}
}

// lockImages locks every image, naming the instance that holds one.
func lockImages(reg instance.Registry, m *driver.Machine) ([]*os.File, error) {
	var locks []*os.File
	for _, d := range m.Disks {
		f, err := instance.LockImage(d.Path, d.ReadOnly || m.Snapshot)
		if err != nil {
			closeAll(locks)
			if errors.Is(err, instance.ErrLocked) {
				if others, lerr := reg.List(); lerr == nil {
					for _, o := range others {
						if o.Image == d.Path && o.Name != m.Name {
							return nil, fmt.Errorf("cobd%d: %s is in use by instance %q: %w", d.Index, d.Path, o.Name, instance.ErrLocked)
						}
					}
				}
			}
			return nil, fmt.Errorf("cobd%d: %w", d.Index, err)
		}
		locks = append(locks, f)
	}
	return locks, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// startSupervisor starts a background corun that owns the guest and
// serves its console, and waits until the guest runs.
func startSupervisor(c *cli.Context) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	args := []string{"run", "--" + supervisedFlag}
	for _, f := range []string{"name", "log", "mirror", "suite", "dns"} {
		if v := c.String(f); v != "" {
			args = append(args, "--"+f+"="+v)
		}
	}
	for _, p := range c.StringSlice("publish") {
		args = append(args, "--publish="+p)
	}
	args = append(args, "--snapshot="+strconv.FormatBool(c.Bool("snapshot")), "--x11="+strconv.FormatBool(c.Bool("x11")),
		"--stop-timeout="+c.Duration("stop-timeout").String())
	args = append(args, c.Args().Slice()...)
	r, w, err := os.Pipe()
	if err != nil {
		return "", err
	}
	defer r.Close()
	cmd := exec.Command(exe, args...)
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives the terminal
	cmd.Env = os.Environ()
	if err := cmd.Start(); err != nil {
		w.Close()
		return "", err
	}
	w.Close()
	go cmd.Wait() // reaped if it ends while we are attached
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		kind, quoted, _ := strings.Cut(sc.Text(), " ")
		msg, _ := strconv.Unquote(quoted)
		switch kind {
		case "warning":
			stderrReporter{}.warn(msg)
		case "ready":
			return msg, nil
		case "error":
			return "", errors.New(msg)
		}
	}
	return "", errors.New("the background corun ended before the guest started")
}
