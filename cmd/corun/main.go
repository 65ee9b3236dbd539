//go:build linux

// Command corun boots cobd images on a cooperative monitor (User-mode
// Linux), with coLinux's key=value configuration. It parses flags and
// settings; the driver package runs the guest.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/colinux-ng/colinux/driver"
	"github.com/colinux-ng/colinux/driver/confine"
	_ "github.com/colinux-ng/colinux/driver/qemu" // the monitors corun offers
	_ "github.com/colinux-ng/colinux/driver/uml"
	"github.com/colinux-ng/colinux/internal/cliflags"
)

// exitError ends corun with a status: the guest command's, or
// exitFailure when corun or the guest failed.
type exitError struct {
	code int
	err  error // printed when not nil
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

// exitFailure is corun's own failure status, as docker run uses 125.
const exitFailure = 125

func main() {
	driver.MaybeInit()
	confine.Init() // corun holds idmapping namespaces itself where cat is missing
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := &cli.App{
		Name:                 "corun",
		Usage:                "boot cobd images on User-mode Linux, coLinux style",
		EnableBashCompletion: true,
		Commands:             []*cli.Command{runCommand, lsCommand, stopCommand, rmCommand, attachCommand, kernelCommand, superviseCommand},
	}
	for _, c := range app.Commands {
		// Otherwise `corun stop h` shows the help of stop: urfave/cli
		// gives every command a "help" (alias "h") subcommand. --help
		// stays.
		c.HideHelpCommand = true
	}
	err := app.RunContext(ctx, cliflags.FlagsFirst(app.Commands, os.Args))
	var ee *exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "corun:", ee.err)
		}
		os.Exit(ee.code)
	default:
		fmt.Fprintln(os.Stderr, "corun:", err)
		os.Exit(exitFailure)
	}
}
