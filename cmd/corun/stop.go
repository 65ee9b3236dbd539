package main

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/colinux-ng/colinux/driver/instance"
	"github.com/colinux-ng/colinux/driver/mconsole"
	"github.com/colinux-ng/colinux/driver/uml"
)

var stopCommand = &cli.Command{
	Name:      "stop",
	Usage:     "shut guests down gracefully (Ctrl-Alt-Del through mconsole)",
	ArgsUsage: "NAME…",
	Flags: []cli.Flag{
		&cli.DurationFlag{Name: "timeout", Value: uml.DefaultStopTimeout, Usage: "how long the guest may take to shut down"},
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
			if err := stop(c.Context, reg, name, c.Duration("timeout"), c.Bool("force")); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	},
}

func stop(ctx context.Context, reg instance.Registry, name string, timeout time.Duration, force bool) error {
	rec, err := reg.Get(name)
	if err != nil {
		return err
	}
	rec.State = instance.Stopping
	reg.Save(rec)
	sock := uml.MconsolePath(rec.Dir, rec.Name)
	deadline := time.Now().Add(timeout)
	// A guest still booting has no mconsole socket yet: retry.
	for {
		_, err := mconsole.Do(ctx, sock, "cad")
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if !force {
				return fmt.Errorf("%s: %w", name, err)
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if waitGone(ctx, reg, rec, time.Until(deadline)) {
		return nil
	}
	if !force {
		return fmt.Errorf("%s did not shut down within %v; corun stop --force halts it", name, timeout)
	}
	mconsole.Do(ctx, sock, "halt")
	if waitGone(ctx, reg, rec, 2*time.Second) {
		return nil
	}
	syscall.Kill(-rec.PID, syscall.SIGKILL) // the guest's process group
	if !waitGone(ctx, reg, rec, 5*time.Second) {
		return fmt.Errorf("%s: pid %d survived SIGKILL", name, rec.PID)
	}
	return nil
}

// waitGone waits until the guest process has ended and its owner has
// removed the instance (or, owner dead, the registry has cleaned it up).
func waitGone(ctx context.Context, reg instance.Registry, rec instance.Record, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if !instance.Alive(rec.PID) {
			if _, err := reg.Get(rec.Name); errors.Is(err, instance.ErrNotFound) {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}
