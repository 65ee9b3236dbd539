//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/colinux-ng/colinux/driver"
	"github.com/colinux-ng/colinux/driver/console"
	"github.com/colinux-ng/colinux/driver/instance"
)

var attachCommand = &cli.Command{
	Name:      "attach",
	Usage:     "connect the terminal to a guest's console (Ctrl-] detaches)",
	ArgsUsage: "NAME",
	Action: func(c *cli.Context) error {
		if c.NArg() != 1 {
			return errors.New("usage: corun attach NAME")
		}
		return attach(c, c.Args().First())
	},
}

func attach(c *cli.Context, name string) error {
	reg, err := instance.DefaultRegistry()
	if err != nil {
		return err
	}
	err = driver.Attach(reg, name, os.Stdin, os.Stdout)
	if errors.Is(err, console.ErrDetached) {
		fmt.Fprintf(os.Stderr, "\r\ncorun: detached from %s; `corun attach %s` reattaches, `corun stop %s` shuts it down\r\n", name, name, name)
		return nil
	}
	if err != nil {
		return err
	}
	// The console closed: the guest ended. Say so if it did not power off.
	if rec, err := reg.Get(name); err == nil && rec.State == instance.Dead {
		return &exitError{code: exitFailure, err: fmt.Errorf("%s ended: %s; corun rm %s removes it", name, driver.DeadReason(rec.Reason), name)}
	}
	return nil
}
