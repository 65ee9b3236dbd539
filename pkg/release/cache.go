package release

import (
	"cmp"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Cached lists the images in the cache below dir, by name, newest serial
// first. Files the cache holds without a record (an interrupted pull's
// leftovers) are not listed; Prune removes them.
func Cached(dir string) ([]Pulled, error) {
	var out []Pulled
	err := filepath.WalkDir(filepath.Join(dir, imagesDir), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".json" {
			return ignoreMissing(err)
		}
		rec, err := readRecord(path)
		if err != nil {
			return nil // not listed; Prune removes it
		}
		rec.Path = strings.TrimSuffix(path, ".json") + ".img"
		if fi, err := os.Stat(rec.Path); err == nil && fi.Size() == rec.Image.Size {
			out = append(out, *rec)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b Pulled) int {
		if c := cmp.Compare(a.Image.Name, b.Image.Name); c != 0 {
			return c
		}
		return cmp.Compare(b.Image.Serial, a.Image.Serial)
	})
	return out, err
}

// Prune keeps the newest keep serials of each cached image name (at least
// one) and removes the rest, along with whatever an interrupted pull left
// (downloads, images without a record). It returns what it removed.
func Prune(dir string, keep int) ([]string, error) {
	keep = max(keep, 1)
	list, err := Cached(dir)
	if err != nil {
		return nil, err
	}
	keepPath := map[string]bool{}
	n := map[string]int{}
	for _, rec := range list {
		n[rec.Image.Name]++
		if n[rec.Image.Name] <= keep {
			keepPath[rec.Path] = true
			keepPath[strings.TrimSuffix(rec.Path, ".img")+".json"] = true
		}
	}
	var removed []string
	remove := func(path string) error {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		removed = append(removed, path)
		return nil
	}
	err = filepath.WalkDir(filepath.Join(dir, imagesDir), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || keepPath[path] {
			return ignoreMissing(err)
		}
		return remove(path)
	})
	if err != nil {
		return removed, err
	}
	err = filepath.WalkDir(filepath.Join(dir, downloadsDir), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return ignoreMissing(err)
		}
		return remove(path)
	})
	// Empty name directories go too.
	if names, _ := os.ReadDir(filepath.Join(dir, imagesDir)); names != nil {
		for _, d := range names {
			os.Remove(filepath.Join(dir, imagesDir, d.Name()))
		}
	}
	return removed, err
}

func ignoreMissing(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
