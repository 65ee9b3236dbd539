// Command coimage builds, converts, inspects, releases and pulls coLinux NG
// root-filesystem ("cobd") images.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/colinux-ng/colinux/internal/cliflags"
)

// version is set by `make dist` (-X main.version=…).
var version = "dev"

func main() {
	// Ctrl-C and SIGTERM cancel the context; commands clean up through it.
	// (On Windows, Ctrl-C and Ctrl-Break arrive as os.Interrupt, closing
	// the console as SIGTERM.) A second one ends coimage at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	// A rootless build re-runs coimage in a user namespace (see
	// pkg/rootless): that process waits here for its id maps.
	if err := rootlessChild(); err != nil {
		fmt.Fprintln(os.Stderr, "coimage:", err)
		os.Exit(1)
	}
	app := &cli.App{
		Name:                 "coimage",
		Usage:                "build, convert, inspect, export, release and pull coLinux NG root-filesystem images",
		Version:              version,
		EnableBashCompletion: true,
		Commands: []*cli.Command{buildCommand, convertCommand, infoCommand, exportCommand,
			keygenCommand, releaseCommand, pullCommand, imagesCommand},
	}
	if err := app.RunContext(ctx, cliflags.FlagsFirst(app.Commands, os.Args)); err != nil {
		fmt.Fprintln(os.Stderr, "coimage:", err)
		os.Exit(1)
	}
}
