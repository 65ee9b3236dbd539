//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/pkg/release"
)

var persistFlag = &cli.BoolFlag{Name: "persist", Usage: "boot a pulled image NAME from a writable copy of it that later runs reuse, instead of as a snapshot"}

// pullImages replaces each disk given as a release image name (NAME[:SERIAL]
// or oci://…, and no file of that name here) by the verified image that
// `coimage pull` would fetch into the cache. Cached images are shared and
// stay untouched: the guest boots them as with --snapshot. With --persist
// it boots a writable copy in $XDG_DATA_HOME/colinux/images/, pulled once
// and then reused.
func pullImages(ctx context.Context, cfg *config.Config, persist bool) error {
	var p *release.Puller
	for i, d := range cfg.Disks {
		if _, err := os.Lstat(d.Path); !errors.Is(err, fs.ErrNotExist) || !release.IsImageName(d.Path) {
			continue
		}
		if p == nil {
			var err error
			if p, err = release.DefaultPuller(); err != nil {
				return err
			}
		}
		path, err := pullImage(ctx, p, d.Path, persist)
		if err != nil {
			return fmt.Errorf("cobd%d=%s: no such file, and pulling it as a release image failed: %w", d.Index, d.Path, err)
		}
		cfg.Disks[i].Path = path
		if !persist {
			cfg.Snapshot = true
		}
	}
	return nil
}

func pullImage(ctx context.Context, p *release.Puller, ref string, persist bool) (string, error) {
	if !persist {
		res, err := p.Pull(ctx, ref, "", false)
		if err != nil {
			return "", err
		}
		return res.Path, nil
	}
	dir, err := persistDir()
	if err != nil {
		return "", err
	}
	dest := filepath.Join(dir, persistName(ref))
	if _, err := os.Stat(dest); err == nil {
		return dest, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if _, err := p.Pull(ctx, ref, dest, false); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "corun: %s: writable copy at %s\n", ref, dest)
	return dest, nil
}

// persistDir is $XDG_DATA_HOME/colinux/images (~/.local/share by default).
func persistDir() (string, error) {
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		base = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(base, "colinux", "images"), nil
}

// persistName names the writable copy of ref: NAME.img for NAME[:SERIAL]
// (one copy per name, whatever its serial), the reference's last part for
// oci://HOST/REPO:TAG.
func persistName(ref string) string {
	if name, _, err := release.ParseRef(ref); err == nil {
		return name + ".img"
	}
	base := ref[strings.LastIndex(ref, "/")+1:]
	return strings.NewReplacer(":", "-", "@", "-").Replace(base) + ".img"
}
