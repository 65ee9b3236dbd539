// Package treecache keeps directory trees in a cache directory as tar files
// and restores them exactly: owners, modes, extended attributes, hard links,
// symlinks, device nodes, modification times to the nanosecond, and the
// order in which each directory lists its entries. That order matters
// because mke2fs -d packs a tree in it, so it decides an image's inode
// numbers and bytes; a restored tree must pack like the tree that was saved.
//
// A tree is saved under a key the caller derives from everything that made
// it, next to the SHA256 of its tar; a restore checks that digest and then
// the directory order before the tree is trusted. Only the most recently
// used trees are kept.
package treecache

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/colinux-ng/colinux/pkg/archive"
)

// ErrOrder: the filesystem lists a directory's entries in an order other
// than the one they were created in or its reverse (ext4 and xfs hash
// names), so a tree restored on it would not pack like the tree that was
// saved. tmpfs lists the newest entry first.
var ErrOrder = errors.New("the filesystem does not list directory entries in creation order")

// ErrCorrupt: a cached tree could not be extracted or does not match the
// digest recorded when it was saved; it has been removed.
var ErrCorrupt = errors.New("cached tree is corrupt")

// Cache is a directory of saved trees.
type Cache struct {
	Dir  string // created by the first Save
	Keep int    // trees kept, the most recently used; 0 means 3
}

func (c Cache) tarPath(key string) string { return filepath.Join(c.Dir, key+".tar") }
func (c Cache) sumPath(key string) string { return filepath.Join(c.Dir, key+".sha256") }

// Restore extracts the tree saved under key into dest, an empty directory,
// and reports whether there was one. On an error dest holds a partial tree
// for the caller to remove; ErrCorrupt and ErrOrder mean the cache cannot
// serve this key and the tree must be built afresh.
func (c Cache) Restore(ctx context.Context, key, dest string) (bool, error) {
	want, err := os.ReadFile(c.sumPath(key))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	f, err := os.Open(c.tarPath(key))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	newestFirst, err := probeOrder(filepath.Dir(dest))
	if err != nil {
		return false, err
	}
	h := sha256.New()
	body := io.TeeReader(bufio.NewReaderSize(f, 1<<20), h)
	entries, err := archive.ExtractTar(ctx, tar.NewReader(body), dest, f.Name(), archive.ExtractOptions{})
	if err == nil {
		_, err = io.Copy(io.Discard, body) // the digest covers the whole file
	}
	if sum := hex.EncodeToString(h.Sum(nil)); err == nil && sum != strings.TrimSpace(string(want)) {
		err = fmt.Errorf("%s: SHA256 differs from the one recorded when it was saved", f.Name())
	}
	if err != nil {
		if ctx.Err() == nil {
			c.remove(key)
			err = fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		return false, err
	}
	if err := sameOrder(dest, entries, newestFirst); err != nil {
		c.remove(key)
		return false, err
	}
	now := time.Now()
	os.Chtimes(c.tarPath(key), now, now) // recently used: kept longest
	return true, nil
}

// sameOrder checks that every directory under dest lists its entries in
// archive order, or in its reverse on a filesystem listing newest first.
func sameOrder(dest string, entries []archive.Entry, newestFirst bool) error {
	want := map[string][]string{}
	for _, e := range entries {
		if e.Path != "/." {
			dir, base := path.Split(e.Path)
			want[dir] = append(want[dir], base)
		}
	}
	for dir, names := range want {
		if newestFirst {
			slices.Reverse(names)
		}
		got, err := listDir(filepath.Join(dest, dir))
		if err != nil {
			return err
		}
		if !slices.Equal(got, names) {
			return fmt.Errorf("%s: %w", filepath.Join(dest, dir), ErrOrder)
		}
	}
	return nil
}

// listDir returns a directory's entry names in the order the filesystem
// lists them (os.ReadDir would sort them).
func listDir(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdirnames(-1)
}

// Save stores the tree at src under key, replacing what was there, and
// drops the least recently used trees beyond Keep. It refuses with
// ErrOrder when src's filesystem does not keep creation order, as no
// restore could reproduce it.
func (c Cache) Save(ctx context.Context, key, src string) (err error) {
	newestFirst, err := probeOrder(filepath.Dir(src))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.Dir, "."+key+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// Walking the tree and hashing and writing the tar take about as long
	// as each other: they run side by side, a megabyte apart.
	h := sha256.New()
	pr, pw := io.Pipe()
	written := make(chan error, 1)
	go func() {
		_, err := io.CopyBuffer(io.MultiWriter(tmp, h), pr, make([]byte, 1<<20))
		pr.CloseWithError(err) // a failed write stops the walk
		written <- err
	}()
	buf := bufio.NewWriterSize(pw, 1<<20)
	err = writeTree(ctx, tar.NewWriter(buf), src, newestFirst)
	if err == nil {
		err = buf.Flush()
	}
	pw.CloseWithError(err)
	if werr := <-written; err == nil {
		err = werr
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err != nil {
		return fmt.Errorf("save %s: %w", src, err)
	}
	// No fsync: a torn file fails its digest at the next restore and is
	// rebuilt, which costs less than syncing every save.
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), c.tarPath(key)); err != nil {
		return err
	}
	if err := writeSum(c.sumPath(key), sum); err != nil {
		return err
	}
	return c.evict()
}

// writeSum writes the digest file whole or not at all.
func writeSum(name, sum string) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, []byte(sum+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// evict keeps the Keep most recently used trees.
func (c Cache) evict() error {
	tars, err := filepath.Glob(filepath.Join(c.Dir, "*.tar"))
	if err != nil {
		return err
	}
	used := map[string]time.Time{}
	for _, t := range tars {
		if fi, err := os.Stat(t); err == nil {
			used[t] = fi.ModTime()
		}
	}
	sort.Slice(tars, func(i, j int) bool { return used[tars[i]].After(used[tars[j]]) })
	keep := c.Keep
	if keep <= 0 {
		keep = 3
	}
	for _, t := range tars[min(keep, len(tars)):] {
		c.remove(strings.TrimSuffix(filepath.Base(t), ".tar"))
	}
	return nil
}

func (c Cache) remove(key string) {
	os.Remove(c.sumPath(key))
	os.Remove(c.tarPath(key))
}

// probeOrder finds out, in a scratch directory below dir, whether the
// filesystem lists entries in creation order or newest first, or fails
// with ErrOrder. Eight names out of alphabetical order: a hashing
// filesystem matches either order only by a 1-in-20160 chance.
func probeOrder(dir string) (newestFirst bool, err error) {
	scratch, err := os.MkdirTemp(dir, ".order-probe-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(scratch)
	names := []string{"h", "c", "f", "a", "g", "d", "b", "e"}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(scratch, n), nil, 0o600); err != nil {
			return false, err
		}
	}
	got, err := listDir(scratch)
	if err != nil {
		return false, err
	}
	if slices.Equal(got, names) {
		return false, nil
	}
	slices.Reverse(got)
	if slices.Equal(got, names) {
		return true, nil
	}
	return false, fmt.Errorf("%s: %w", dir, ErrOrder)
}
