package bootstrap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/colinux-ng/colinux/pkg/archive"
	"github.com/colinux-ng/colinux/pkg/recipe"
	"github.com/colinux-ng/colinux/pkg/treecache"
)

// cachedBase fills the empty target from the base cache, else runs
// install and saves its tree there; an empty key means no caching. A
// cached tree that fails its checks is dropped and built afresh; a tree
// that cannot be saved only costs the next build its speed.
func cachedBase(ctx context.Context, base treecache.Cache, key, target string, opts Options, install func() error) error {
	if key == "" {
		return install()
	}
	opts.progress("restore", 0, 0)
	ok, err := base.Restore(ctx, key, target)
	switch {
	case ok:
		opts.logf("base cache: restored %s", key)
		return nil
	case err != nil && ctx.Err() != nil:
		return err
	case err != nil:
		opts.logf("base cache: %v; building from the packages", err)
		if err := emptyDir(target); err != nil {
			return err
		}
	}
	if err := install(); err != nil {
		return err
	}
	if err := base.Save(ctx, key, target); err != nil {
		opts.logf("base cache: not saved: %v", err)
	}
	return nil
}

// emptyDir removes everything inside dir.
func emptyDir(dir string) error {
	names, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := os.RemoveAll(filepath.Join(dir, n.Name())); err != nil {
			return err
		}
	}
	return nil
}

// baseKey names a configured base system by everything that decides its
// bytes: the program that builds it, the verified packages, what the
// recipe removes, the apt sources written into it and the time its
// package scripts are told. It is empty when the program cannot be
// identified: no cache then.
func baseKey(mirror string, r *recipe.Recipe, pkgs []*archive.Package, epoch int64) string {
	if programID() == "" {
		return ""
	}
	src := r.Source.Debian
	h := sha256.New()
	fmt.Fprintf(h, "coimage debian base v1\nprogram %s\nmirror %s\nsuite %s\ncomponents %q\narch %s\nremove %q\nepoch %d\n",
		programID(), mirror, src.Suite, src.Components, r.Image.Architecture, r.Packages.Remove, epoch)
	for _, p := range pkgs {
		fmt.Fprintf(h, "%s %s %s %s\n", p.Name, p.Version, p.Architecture, p.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// programID is the SHA256 of the running executable, or "" when it cannot
// be read: a base made by another build of coimage may differ, so it gets
// another key.
var programID = sync.OnceValue(func() string {
	h := sha256.New()
	exe, err := os.Executable()
	if err == nil {
		var f *os.File
		if f, err = os.Open(exe); err == nil {
			_, err = io.Copy(h, f)
			f.Close()
		}
	}
	if err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
})
