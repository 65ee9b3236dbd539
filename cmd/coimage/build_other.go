//go:build !linux

package main

import (
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"
)

// buildCommand is Linux's: a build installs and configures packages in a
// chroot, with Linux mount and user namespaces. Elsewhere the command
// stays listed, so that `coimage build` says why it cannot run rather
// than "no such command".
var buildCommand = &cli.Command{
	Name:            "build",
	Usage:           "build a root-filesystem image from a recipe (Linux only)",
	ArgsUsage:       "RECIPE",
	SkipFlagParsing: true,
	Action: func(*cli.Context) error {
		return fmt.Errorf("build runs on Linux only (it configures packages in a chroot, with Linux namespaces), not on %s/%s: "+
			"run it on a Linux host, in a Linux VM or in WSL 2, or fetch a built image with `coimage pull`", runtime.GOOS, runtime.GOARCH)
	},
}

// rootlessChild has nothing to wait for: only a Linux build re-runs
// coimage in a user namespace.
func rootlessChild() error { return nil }
