package bootstrap

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/colinux-ng/colinux/pkg/recipe"
)

// packageManager is how a distribution installs and removes packages from
// inside the target, where its own tools verify what they download.
type packageManager struct {
	install, remove string   // command lines; package names are appended
	env             []string // added to the chroot's environment, KEY=value
}

// run installs, then removes, the recipe's packages in the target. The
// package manager downloads, so the host's resolv.conf stands in for the
// target's while it runs. Recipe package names are validated shell-safe.
func (pm packageManager) run(ctx context.Context, r *recipe.Recipe, target string, epoch int64, opts Options) error {
	if len(r.Packages.Install) == 0 && len(r.Packages.Remove) == 0 {
		return nil
	}
	restore, err := hostResolv(target)
	if err != nil {
		return err
	}
	defer restore()
	ch := &Chroot{Root: target, Env: append([]string{"SOURCE_DATE_EPOCH=" + strconv.FormatInt(epoch, 10)}, pm.env...), Log: opts.Log}
	opts.progress("packages", 0, 0)
	if len(r.Packages.Install) > 0 {
		if err := ch.Run(ctx, "install packages", pm.install+" "+strings.Join(r.Packages.Install, " ")); err != nil {
			return err
		}
	}
	if len(r.Packages.Remove) > 0 {
		return ch.Run(ctx, "remove packages", pm.remove+" "+strings.Join(r.Packages.Remove, " "))
	}
	return nil
}

// hostResolv puts a copy of the host's /etc/resolv.conf in the target,
// moving the target's own entry (often a symlink into /run) aside, and
// returns the function that puts it back.
func hostResolv(target string) (func(), error) {
	data, err := os.ReadFile("/etc/resolv.conf")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	path := filepath.Join(target, "etc/resolv.conf")
	saved := path + ".coimage-saved"
	_, err = os.Lstat(path)
	had := err == nil
	if had {
		if err := os.Rename(path, saved); err != nil {
			return nil, err
		}
	}
	undo := func() {
		os.Remove(path)
		if had {
			os.Rename(saved, path)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		undo()
		return nil, err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		undo()
		return nil, err
	}
	return undo, nil
}
