//go:build linux

package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/colinux-ng/colinux/internal/progress"
	"github.com/colinux-ng/colinux/runtime"
)

var kernelCommand = &cli.Command{
	Name:  "kernel",
	Usage: "show the cached guest kernels; --refresh fetches the newest",
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "refresh", Usage: "fetch the newest kernels (user-mode-linux, and for QEMU linux-image-cloud-*) from the Debian archive"},
		&cli.StringFlag{Name: "mirror", Usage: "Debian mirror (default: from the host's apt sources)"},
		&cli.StringFlag{Name: "suite", Usage: "Debian suite (default: the host's release)"},
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
		w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "MONITOR\tPACKAGE VERSION\tRELEASE\tKERNEL")
		for _, k := range ks {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", k.Monitor, k.Version, k.Release, k.Path)
		}
		return w.Flush()
	},
}

// source is where to fetch the kernel from, with a progress bar.
func source(c *cli.Context) runtime.Source {
	var bar *progress.Bar
	var shown int64
	return runtime.Source{
		Mirror: c.String("mirror"),
		Suite:  c.String("suite"),
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
