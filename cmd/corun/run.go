//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/colinux-ng/colinux/driver"
	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/confine"
	"github.com/colinux-ng/colinux/driver/instance"
	"github.com/colinux-ng/colinux/driver/qemu"
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
		"   cpus=N (QEMU), monitor=uml|qemu|auto, kernel=, initrd=, root=, ro; @FILE reads a configuration file; other words go to the kernel.\n" +
		"   IMAGE may be a release image NAME[:SERIAL] or oci://…, pulled and verified as by coimage pull.\n" +
		"   Without a command the console is attached; Ctrl-] detaches.",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "name", Usage: "instance name (default: from the image's file name)"},
		&cli.StringFlag{Name: "monitor", Usage: "uml, qemu or auto (QEMU where KVM works, else UML); same as monitor= (default: uml)"},
		&cli.BoolFlag{Name: "snapshot", Usage: "write to throwaway copy-on-write files; the images stay untouched"},
		persistFlag,
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "boot in the background; corun attach NAME shows the console"},
		&cli.BoolFlag{Name: "x11", Usage: "show the guest's X programs on the host's display ($DISPLAY), through eth0's gateway; same as x11=on"},
		&cli.StringFlag{Name: "log", Usage: "append the console and kernel output to `FILE`"},
		&cli.DurationFlag{Name: "stop-timeout", Value: driver.DefaultStopTimeout, Usage: "graceful shutdown time on Ctrl-C before the guest is halted"},
		&cli.StringSliceFlag{Name: "publish", Aliases: []string{"p"}, Usage: "publish a guest port on the host; `SPEC` is [ADDR:]HOST:GUEST[/udp], ADDR 127.0.0.1 by default; adds eth0=slirp if no interface is set"},
		&cli.StringFlag{Name: "dns", Usage: "forward the user-mode network's DNS queries to `HOST:PORT` (default: the host's resolvers)"},
		&cli.StringFlag{Name: "mirror", Usage: "Debian mirror for the first kernel fetch (default: from the host's apt sources)"},
		&cli.StringFlag{Name: "suite", Usage: "Debian suite for the first kernel fetch (default: the newest whose user-mode-linux the host can run, else the host's release)"},
		allowExpiredFlag,
		&cli.BoolFlag{Name: "unconfined", Usage: "run the guest kernel with all of corun's rights: the guest can then reach every host file through hostfs (needed for cofs shares on a host without Landlock or namespaces)"},
		&cli.BoolFlag{Name: "json", Usage: "print what ran as JSON: with --detach the instance (name, pid, state, kernel and its mode, confinement) instead of its name; else, when the guest ends, its name, monitor, kernel, kernel mode, confinement and exit code on standard error"},
	},
	Action: runAction,
}

func runAction(c *cli.Context) error {
	settings, command, err := splitRunArgs(c.Args().Slice())
	if err != nil {
		return err
	}
	cfg, err := guest(c, settings, command)
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	spec := spec{Config: cfg, LogFile: c.String("log"), StopTimeout: c.Duration("stop-timeout")}
	if spec.LogFile != "" {
		if spec.LogFile, err = filepath.Abs(spec.LogFile); err != nil {
			return err
		}
	}
	if len(command) > 0 {
		reg, err := instance.DefaultRegistry()
		if err != nil {
			return err
		}
		res, err := driver.Run(c.Context, cfg, driver.Options{Registry: reg, Output: os.Stdout,
			LogFile: spec.LogFile, StopTimeout: spec.StopTimeout})
		if err != nil {
			return &exitError{code: exitFailure, err: err}
		}
		if c.Bool("json") {
			r := reportOf(cfg)
			r.Confinement = res.Confinement
			if res.Exited {
				r.ExitCode = &res.ExitCode
			}
			if err := json.NewEncoder(c.App.ErrWriter).Encode(r); err != nil {
				return err
			}
		}
		return &exitError{code: res.ExitCode}
	}
	name, err := startSupervisor(spec)
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	cfg.Name = name
	if c.Bool("detach") {
		if c.Bool("json") {
			return printRecord(c, name)
		}
		fmt.Fprintln(c.App.Writer, name)
		return nil
	}
	var r runReport
	if c.Bool("json") {
		r = reportOf(cfg)
		if rec, err := record(name); err == nil { // the guest is running: its record says how it is confined
			r.Confinement = rec.Confinement
		}
	}
	err = attach(c, name)
	if c.Bool("json") {
		json.NewEncoder(c.App.ErrWriter).Encode(r)
	}
	return err
}

// runReport is corun run --json's report: what ran.
type runReport struct {
	Name       string `json:"name"`
	Monitor    string `json:"monitor"`
	Kernel     string `json:"kernel"`                // the guest kernel's release
	KernelPath string `json:"kernel_path"`           // its binary or boot image
	KernelMode string `json:"kernel_mode,omitempty"` // UML: "seccomp" or "ptrace"
	ExitCode   *int   `json:"exit_code,omitempty"`   // the command's, when it ran to the end
	// Confinement is what confined the guest's monitor process, when one
	// was started.
	Confinement *confine.Status `json:"confinement,omitempty"`
}

func reportOf(cfg *config.Config) runReport {
	m := cfg.Monitor
	if m == "" {
		m = driver.DefaultMonitor
	}
	return runReport{Name: cfg.Name, Monitor: m, Kernel: cfg.KernelVersion, KernelPath: cfg.Kernel, KernelMode: cfg.KernelMode}
}

// printRecord prints the registry's record of the instance name.
func printRecord(c *cli.Context, name string) error {
	rec, err := record(name)
	if err != nil {
		return err
	}
	return json.NewEncoder(c.App.Writer).Encode(rec)
}

// record is the registry's record of the instance name.
func record(name string) (instance.Record, error) {
	reg, err := instance.DefaultRegistry()
	if err != nil {
		return instance.Record{}, err
	}
	return reg.Get(name)
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
		if i == 0 && !strings.Contains(a, "=") && !strings.HasPrefix(a, "@") {
			a = "cobd0=" + a
		}
		settings = append(settings, a)
	}
	return settings, command, nil
}

// guest reads the settings and flags into the guest's configuration,
// checked by the driver, with its kernel and initramfs resolved.
func guest(c *cli.Context, settings, command []string) (*config.Config, error) {
	cfg, err := config.Parse(settings)
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings {
		warn(w)
	}
	cfg.Name, cfg.Snapshot, cfg.DNS, cfg.Command = c.String("name"), c.Bool("snapshot"), c.String("dns"), command
	if err := pullImages(c.Context, cfg, c.Bool("persist")); err != nil {
		return nil, err
	}
	if c.IsSet("monitor") {
		cfg.Monitor = c.String("monitor")
	}
	chooseMonitor(cfg)
	switch cfg.Unconfined = c.Bool("unconfined"); {
	case cfg.Unconfined:
		warn("--unconfined: the guest kernel runs with all of this user's rights; " +
			"a guest can mount any host path through hostfs and read or write it")
	case !confine.Probe().Confined() && len(cfg.Shares) == 0:
		warn("this host offers no confinement (no Landlock, no namespaces): the guest kernel runs with this user's rights")
	}
	if err := publish(cfg, c.StringSlice("publish")); err != nil {
		return nil, err
	}
	if c.Bool("x11") {
		cfg.X11 = true
	}
	if cfg.X11 { // the background corun opens it again, from the same environment
		f, err := x11.New(os.Getenv("DISPLAY"), x11.AuthorityFile())
		if err != nil {
			return nil, fmt.Errorf("--x11: %w", err)
		}
		if !f.HostCookie() {
			warn(fmt.Sprintf("x11: %s holds no cookie for display %s; guest clients get in only if the host's X server lets corun's user in without one", x11.AuthorityFile(), f.Display))
		}
	}
	if err := resolveVirtiofsd(c.Context, c, cfg); err != nil {
		return nil, err
	}
	if err := driver.Prepare(cfg); err != nil {
		return nil, err
	}
	if err := resolveKernel(c.Context, c, cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// chooseMonitor resolves monitor=auto — QEMU where KVM works, else UML
// — and says when QEMU has to emulate the CPU.
func chooseMonitor(cfg *config.Config) {
	if cfg.Monitor != "auto" && cfg.Monitor != qemu.Name {
		return
	}
	kvm, why := qemu.Accel()
	switch {
	case cfg.Monitor == "auto" && kvm:
		cfg.Monitor = qemu.Name
	case cfg.Monitor == "auto":
		cfg.Monitor = uml.Name
	case !kvm:
		warn("QEMU without KVM (" + why + "): the CPU is emulated (TCG, one host thread a vCPU), slower than KVM")
	}
}

func warn(msg string) { fmt.Fprintln(os.Stderr, "corun: warning:", msg) }

// resolveVirtiofsd finds virtiofsd for a QEMU guest's cofs shares: the
// host's, or one fetched into the runtime cache on first use.
func resolveVirtiofsd(ctx context.Context, c *cli.Context, cfg *config.Config) error {
	if cfg.Monitor != qemu.Name || len(cfg.Shares) == 0 || len(cfg.Virtiofsd) > 0 {
		return nil
	}
	cache, err := runtime.DefaultCache()
	if err != nil {
		return err
	}
	// --suite picks the kernel's release; virtiofsd comes from a
	// release that has it.
	cfg.Virtiofsd, err = cache.EnsureVirtiofsd(ctx, runtime.Source{Mirror: c.String("mirror")})
	if err != nil {
		return fmt.Errorf("cofs under QEMU: %w", err)
	}
	return nil
}

// resolveKernel fills in the kernel (kernel=, or the cached one, fetched
// on first use) and corun's initramfs.
func resolveKernel(ctx context.Context, c *cli.Context, cfg *config.Config) error {
	cache, err := runtime.DefaultCache()
	if err != nil {
		return err
	}
	var k runtime.Kernel
	if cfg.Kernel != "" {
		k, err = cache.Override(cfg.Monitor, cfg.Kernel)
	} else {
		src := source(c)
		src.Monitor = cfg.Monitor
		k, err = cache.Ensure(ctx, src)
	}
	if err != nil {
		return err
	}
	cfg.Kernel, cfg.KernelVersion, cfg.Modules = k.Path, k.Release, k.Modules
	cfg.KernelMode, cfg.KernelNoRandomize = kernelMode(k.Mode, cfg.KernelArgs), k.NoRandomize
	if cfg.Initrd == "" {
		if cfg.Initramfs, err = initramfs.Cached(cache.Dir); err != nil {
			return err
		}
	}
	return nil
}

// kernelMode is the mode the kernel will run in: the one it supports,
// unless the user's own seccomp= word (given to the kernel after corun's)
// turns seccomp off.
func kernelMode(supported string, kernelArgs []string) string {
	for _, a := range slices.Backward(kernelArgs) {
		if v, ok := strings.CutPrefix(a, "seccomp="); ok {
			if v == "off" {
				return runtime.Ptrace
			}
			break
		}
	}
	return supported
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
