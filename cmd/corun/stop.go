//go:build linux

package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/colinux-ng/colinux/driver"
	"github.com/colinux-ng/colinux/driver/instance"
)

var stopCommand = &cli.Command{
	Name:      "stop",
	Usage:     "shut guests down gracefully; a dead instance is removed",
	ArgsUsage: "NAME…",
	Flags: []cli.Flag{
		&cli.DurationFlag{Name: "timeout", Value: driver.DefaultStopTimeout, Usage: "how long the guest may take to shut down"},
		&cli.BoolFlag{Name: "force", Usage: "halt the guest when the timeout passes"},
	},
	Action: func(c *cli.Context) error {
		return eachInstance(c, func(reg instance.Registry, name string) error {
			st, err := driver.Stop(c.Context, reg, name, c.Duration("timeout"), c.Bool("force"))
			if err == nil && st.WasDead {
				fmt.Fprintf(c.App.ErrWriter, "corun: %s was not running (%s); removed what it left\n", name, driver.DeadReason(st.Reason))
			}
			return err
		})
	},
}

var rmCommand = &cli.Command{
	Name:      "rm",
	Usage:     "remove dead instances (corun stop ends live ones)",
	ArgsUsage: "NAME…",
	Action: func(c *cli.Context) error {
		return eachInstance(c, func(reg instance.Registry, name string) error {
			err := reg.Remove(name)
			switch {
			case errors.Is(err, instance.ErrAlive):
				return fmt.Errorf("%s is running; corun stop %s ends it", name, name)
			case err == nil:
				fmt.Fprintf(c.App.ErrWriter, "corun: removed %s\n", name)
			}
			return err
		})
	},
}

// eachInstance calls fn for every NAME argument, going on after errors.
func eachInstance(c *cli.Context, fn func(reg instance.Registry, name string) error) error {
	if c.NArg() == 0 {
		return fmt.Errorf("usage: corun %s NAME…", c.Command.Name)
	}
	reg, err := instance.DefaultRegistry()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range c.Args().Slice() {
		if err := fn(reg, name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
