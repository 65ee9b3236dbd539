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
		if c.NArg() == 0 {
			return errors.New("usage: corun stop NAME…")
		}
		reg, err := instance.DefaultRegistry()
		if err != nil {
			return err
		}
		var errs []error
		for _, name := range c.Args().Slice() {
			st, err := driver.Stop(c.Context, reg, name, c.Duration("timeout"), c.Bool("force"))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if st.WasDead {
				fmt.Fprintf(c.App.ErrWriter, "corun: %s was not running (%s); removed what it left\n", name, driver.DeadReason(st.Reason))
			}
		}
		return errors.Join(errs...)
	},
}

var rmCommand = &cli.Command{
	Name:      "rm",
	Usage:     "remove dead instances (corun stop ends live ones)",
	ArgsUsage: "NAME…",
	Action: func(c *cli.Context) error {
		if c.NArg() == 0 {
			return errors.New("usage: corun rm NAME…")
		}
		reg, err := instance.DefaultRegistry()
		if err != nil {
			return err
		}
		var errs []error
		for _, name := range c.Args().Slice() {
			if err := reg.Remove(name); errors.Is(err, instance.ErrAlive) {
				errs = append(errs, fmt.Errorf("%s is running; corun stop %s ends it", name, name))
			} else if err != nil {
				errs = append(errs, err)
			} else {
				fmt.Fprintf(c.App.ErrWriter, "corun: removed %s\n", name)
			}
		}
		return errors.Join(errs...)
	},
}
