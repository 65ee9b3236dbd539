//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/colinux-ng/colinux/driver"
	"github.com/colinux-ng/colinux/driver/instance"
)

var lsCommand = &cli.Command{
	Name:  "ls",
	Usage: "list guests: running, starting, stopping, or dead (corun rm removes those)",
	Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
	Action: func(c *cli.Context) error {
		reg, err := instance.DefaultRegistry()
		if err != nil {
			return err
		}
		recs, err := reg.List()
		if err != nil {
			return err
		}
		if c.Bool("json") {
			if recs == nil {
				recs = []instance.Record{}
			}
			return json.NewEncoder(c.App.Writer).Encode(recs)
		}
		w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tMONITOR\tKERNEL\tPID\tIMAGE\tUPTIME\tCONFINED\tSTATE")
		for _, r := range recs {
			uptime, state := time.Since(r.Started).Round(time.Second).String(), r.State
			if r.State == instance.Dead {
				uptime, state = "-", "dead: "+driver.DeadReason(r.Reason)
			}
			kernel := r.Kernel
			if r.KernelMode != "" {
				kernel += " (" + r.KernelMode + ")"
			}
			if kernel == "" {
				kernel = "-"
			}
			confined := "-"
			if r.Confinement != nil {
				confined = r.Confinement.Short()
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Name, r.Monitor, kernel, r.PID, r.Image, uptime, confined, state)
		}
		return w.Flush()
	},
}
