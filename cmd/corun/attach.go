package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

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
	rec, err := reg.Get(name)
	if err != nil {
		return err
	}
	sock := filepath.Join(rec.Dir, consoleSocket)
	if _, err := os.Stat(sock); err != nil {
		return fmt.Errorf("%s runs a command; its output goes to the corun that started it", name)
	}
	err = console.Attach(sock, os.Stdin, os.Stdout)
	if errors.Is(err, console.ErrDetached) {
		fmt.Fprintf(os.Stderr, "\r\ncorun: detached from %s; `corun attach %s` reattaches, `corun stop %s` shuts it down\r\n", name, name, name)
		return nil
	}
	return err
}
