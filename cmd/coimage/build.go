//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/colinux-ng/colinux/internal/atomicfile"
	"github.com/colinux-ng/colinux/internal/progress"
	"github.com/colinux-ng/colinux/pkg/bootstrap"
	"github.com/colinux-ng/colinux/pkg/recipe"
	"github.com/colinux-ng/colinux/pkg/rootfs"
	"github.com/colinux-ng/colinux/pkg/rootless"
)

var buildCommand = &cli.Command{
	Name:      "build",
	Usage:     "build a root-filesystem image (ext4 cobd image) from a recipe, as root or rootless (in a user namespace mapped through /etc/subuid and /etc/subgid)",
	ArgsUsage: "RECIPE",
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: ".", Usage: "write NAME.img and NAME.manifest.json into `DIR`"},
		&cli.StringFlag{Name: "mirror", Usage: "package mirror `URL` (default: $COIMAGE_DEBIAN_MIRROR, $COIMAGE_FEDORA_MIRROR or $COIMAGE_GENTOO_MIRROR, then the recipe; then Debian's from the host's apt sources, Fedora's and Gentoo's own download services)"},
		&cli.StringFlag{Name: "cache", Usage: "package cache `DIR` (default: $XDG_CACHE_HOME/coimage)"},
		&cli.StringFlag{Name: "workdir", Usage: "build the tree below `DIR` (default: /dev/shm when it is a roomy tmpfs, else $TMPDIR)"},
		&cli.BoolFlag{Name: "no-base-cache", Usage: "install the packages afresh instead of restoring the configured base system cached by an earlier build with the same packages, and cache nothing"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "show the output of commands run inside the image"},
		&cli.BoolFlag{Name: "json", Usage: "print the manifest as JSON"},
	},
	Action: runBuild,
}

// buildManifest is NAME.manifest.json: what went into the image.
type buildManifest struct {
	Name            string              `json:"name"`
	Recipe          string              `json:"recipe"`
	RecipeHash      string              `json:"recipe_sha256"`
	Distribution    string              `json:"distribution"`
	Release         string              `json:"release"`
	Architecture    string              `json:"architecture"`
	Mirror          string              `json:"mirror"`
	Mode            string              `json:"mode"` // root, or rootless (see pkg/rootless)
	SourceDateEpoch int64               `json:"source_date_epoch"`
	Image           manifestImage       `json:"image"`
	Packages        []bootstrap.Package `json:"packages"`
}

type manifestImage struct {
	File string `json:"file"`
	rootfs.Image
}

func runBuild(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("usage: coimage build [--output DIR] [--mirror URL] [--cache DIR] [--json] RECIPE", 2)
	}
	r, err := recipe.Load(c.Args().First())
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		// An ordinary user: the same build as root of a user namespace.
		code, err := rootless.Run(os.Args[1:])
		if err != nil {
			return err
		}
		if code != 0 {
			return cli.Exit("", code)
		}
		return nil
	}
	epoch, err := pinnedEpoch(r)
	if err != nil {
		return err
	}
	workdir := c.String("workdir")
	if workdir == "" {
		workdir = defaultWorkdir()
	}
	var log io.Writer
	if c.Bool("verbose") {
		log = os.Stderr
	}
	start := time.Now()
	m, err := build(c.Context, r, buildConfig{
		output: c.String("output"), workdir: workdir, log: log,
		boot: bootstrap.Options{Mirror: c.String("mirror"), CacheDir: c.String("cache"), SourceDateEpoch: epoch, Log: log,
			NoBaseCache: c.Bool("no-base-cache")},
	})
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(m)
	}
	fmt.Printf("%s: %s, %d packages, %s in %s\n", filepath.Join(c.String("output"), m.Image.File),
		humanBytes(m.Image.Size), len(m.Packages), m.Image.SHA256[:16], time.Since(start).Round(100*time.Millisecond))
	return nil
}

type buildConfig struct {
	output, workdir string
	log             io.Writer
	boot            bootstrap.Options
}

// build runs bootstrap, customization, normalization and packing in a
// scratch tree, and commits the image and its manifest together: on any
// error or cancellation nothing is left in the output directory.
func build(ctx context.Context, r *recipe.Recipe, cfg buildConfig) (m *buildManifest, err error) {
	if err := os.MkdirAll(cfg.output, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(cfg.workdir, "coimage-build-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if rerr := bootstrap.RemoveTree(work); rerr != nil && err == nil {
			err = rerr
		}
	}()
	tree := filepath.Join(work, "tree")
	if err := os.Mkdir(tree, 0o755); err != nil {
		return nil, err
	}
	bars := &phaseBars{}
	defer bars.done()
	cfg.boot.Progress = bars.update

	res, err := bootstrap.Bootstrap(ctx, r, tree, cfg.boot)
	if err != nil {
		return nil, err
	}
	bars.update("customize", 0, 0)
	ch := &bootstrap.Chroot{Root: tree, Env: []string{"SOURCE_DATE_EPOCH=" + strconv.FormatInt(res.SourceDateEpoch, 10)}, Log: cfg.log}
	if err := rootfs.Customize(ctx, tree, r, ch); err != nil {
		return nil, err
	}
	if err := rootfs.Normalize(tree, res.SourceDateEpoch); err != nil {
		return nil, err
	}

	bars.update("pack", 0, 0)
	name := r.Image.Name + ".img"
	img, err := atomicfile.Create(filepath.Join(cfg.output, name), 0o644)
	if err != nil {
		return nil, err
	}
	defer img.Abort()
	packed, err := rootfs.Pack(ctx, tree, img.Name(), rootfs.PackOptions{
		Epoch: res.SourceDateEpoch, Seed: r.Hash(), Size: r.Size, Headroom: r.Headroom})
	if err != nil {
		return nil, err
	}
	m = &buildManifest{
		Name: r.Image.Name, Recipe: r.File, RecipeHash: r.Hash(),
		Distribution: r.Image.Distribution, Release: r.Image.Release, Architecture: r.Image.Architecture,
		Mirror: res.Mirror, Mode: rootless.Mode(), SourceDateEpoch: res.SourceDateEpoch,
		Image: manifestImage{File: name, Image: *packed}, Packages: res.Packages,
	}
	mf, err := atomicfile.Create(filepath.Join(cfg.output, r.Image.Name+".manifest.json"), 0o644)
	if err != nil {
		return nil, err
	}
	defer mf.Abort()
	enc := json.NewEncoder(mf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	if err := img.Commit(); err != nil {
		return nil, err
	}
	if err := mf.Commit(); err != nil {
		os.Remove(filepath.Join(cfg.output, name))
		return nil, err
	}
	return m, nil
}

// pinnedEpoch is the recipe's source_date_epoch, else $SOURCE_DATE_EPOCH,
// else nil (the bootstrap source picks one).
func pinnedEpoch(r *recipe.Recipe) (*int64, error) {
	if r.Reproducible.SourceDateEpoch != nil {
		return r.Reproducible.SourceDateEpoch, nil
	}
	env := os.Getenv("SOURCE_DATE_EPOCH")
	if env == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(env, 10, 64)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("$SOURCE_DATE_EPOCH: want seconds since 1970, got %q", env)
	}
	return &n, nil
}

// defaultWorkdir prefers /dev/shm when it is a tmpfs with room: the
// package scripts fsync a lot, which costs nothing there, and the tree
// is scratch anyway.
func defaultWorkdir() string {
	var st unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &st); err == nil && st.Type == unix.TMPFS_MAGIC &&
		int64(st.Bavail)*st.Bsize >= 4<<30 {
		return "/dev/shm"
	}
	return os.TempDir()
}

// phaseBars shows one progress bar per build phase on a terminal.
type phaseBars struct {
	phase string
	bar   *progress.Bar
	last  int64
}

func (p *phaseBars) update(phase string, done, total int64) {
	if phase != p.phase {
		p.done()
		p.phase, p.last = phase, 0
		if total <= 0 {
			total = -1 // a spinner: the phase has no byte count
		}
		p.bar = progress.New(total, phase)
	}
	p.bar.Add(done - p.last)
	p.last = done
}

func (p *phaseBars) done() {
	if p.bar != nil {
		p.bar.Done()
		p.bar = nil
	}
}
