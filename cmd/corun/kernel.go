//go:build linux

package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/colinux-ng/colinux/driver/qemu"
	"github.com/colinux-ng/colinux/internal/progress"
	"github.com/colinux-ng/colinux/runtime"
)

var kernelCommand = &cli.Command{
	Name:  "kernel",
	Usage: "show the cached guest kernels, the mode each runs in, the ones corun run picks (*) and the virtiofsd for cofs under QEMU; --refresh fetches the newest",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "refresh", Usage: "fetch the newest kernels (user-mode-linux, and for QEMU linux-image-cloud-*) from the Debian archive"},
		&cli.StringFlag{Name: "mirror", Usage: "Debian mirror (default: from the host's apt sources)"},
		&cli.StringFlag{Name: "suite", Usage: "Debian suite (default: the newest whose user-mode-linux the host can run, else the host's release)"},
		allowExpiredFlag,
	},
	Action: func(c *cli.Context) error {
		cache, err := runtime.DefaultCache()
		if err != nil {
			return err
		}
		if c.Bool("refresh") {
			for _, m := range []string{runtime.UML, runtime.QEMU} {
				src := source(c)
				src.Monitor = m
				if _, err := cache.Fetch(c.Context, src); err != nil {
					return err
				}
			}
		}
		ks, err := cache.List()
		if err != nil {
			return err
		}
		if len(ks) == 0 {
			fmt.Fprintf(c.App.Writer, "no kernel in %s yet; corun run fetches one, or run corun kernel --refresh\n", cache.Dir)
			return nil
		}
		// The mode a kernel serves in: UML's seccomp or ptrace, and for
		// QEMU the accelerator this host gives it.
		kvm, why := qemu.Accel()
		accel := map[bool]string{true: "kvm", false: "tcg"}[kvm]
		inUse := map[string]string{}
		for _, m := range []string{runtime.UML, runtime.QEMU} {
			if k, err := cache.Latest(m); err == nil {
				inUse[m] = k.Path
			}
		}
		w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "MONITOR\tMODE\tPACKAGE VERSION\tRELEASE\tDEFAULT\tKERNEL")
		for _, k := range ks {
			mode, def := k.Mode, ""
			if k.Monitor == runtime.QEMU {
				mode = accel
			}
			if inUse[k.Monitor] == k.Path {
				def = "*"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", k.Monitor, mode, k.Version, k.Release, def, k.Path)
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if !kvm {
			fmt.Fprintf(c.App.Writer, "\nQEMU emulates the CPU here (tcg): %s\n", why)
		}
		vfs := "none yet; corun run fetches one for the first cofs share under QEMU"
		if cmd, ok := cache.FindVirtiofsd(); ok {
			vfs = cmd[len(cmd)-1]
		}
		fmt.Fprintf(c.App.Writer, "virtiofsd for cofs under QEMU: %s\n", vfs)
		return nil
	},
}

// source is where to fetch the kernel from, with a progress bar.
// allowExpiredFlag lets a kernel come from a snapshot mirror, whose
// newer suites' Release files have expired.
var allowExpiredFlag = &cli.BoolFlag{Name: "allow-expired", Usage: "accept a Debian suite whose Release is past its Valid-Until, as a snapshot mirror serves it, for the kernel fetch (without it such a suite is passed over)"}

func source(c *cli.Context) runtime.Source {
	var bar *progress.Bar
	var shown int64
	return runtime.Source{
		Mirror:       c.String("mirror"),
		Suite:        c.String("suite"),
		AllowExpired: c.Bool(allowExpiredFlag.Name),
		Progress: func(done, total int64) {
			if bar == nil {
				bar = progress.New(total, "fetching the guest kernel")
			}
			bar.Add(done - shown)
			shown = done
			if done == total {
				bar.Done()
			}
		},
	}
}
