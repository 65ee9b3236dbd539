package bootstrap

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/colinux-ng/colinux/pkg/treecache"
)

func TestCachedBase(t *testing.T) {
	dir, err := os.MkdirTemp("/dev/shm", "basecache-test-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	base := treecache.Cache{Dir: filepath.Join(dir, "cache")}
	target := filepath.Join(dir, "tree")
	installs := 0
	install := func() error {
		installs++
		return os.WriteFile(filepath.Join(target, "installed"), []byte("yes"), 0o644)
	}
	build := func(key string) []string {
		t.Helper()
		os.RemoveAll(target)
		os.Mkdir(target, 0o755)
		if err := cachedBase(context.Background(), base, key, target, Options{}, install); err != nil {
			t.Fatal(err)
		}
		names, _ := filepath.Glob(filepath.Join(target, "*"))
		return names
	}
	want := []string{filepath.Join(target, "installed")}

	for i, step := range []struct {
		name     string
		key      string
		before   func()
		installs int
	}{
		{"first build installs and saves", "key", nil, 1},
		{"second build restores", "key", nil, 1},
		{"no key (--no-base-cache) installs", "", nil, 2},
		{"a corrupt base is installed afresh", "key", func() {
			tars, _ := filepath.Glob(filepath.Join(base.Dir, "*.tar"))
			if len(tars) != 1 {
				t.Fatalf("cache holds %v, want one tree", tars)
			}
			data, _ := os.ReadFile(tars[0])
			data[len(data)-1] ^= 1 // tar padding: the restore itself succeeds
			os.WriteFile(tars[0], data, 0o600)
		}, 3},
	} {
		if step.before != nil {
			step.before()
		}
		if got := build(step.key); !slices.Equal(got, want) || installs != step.installs {
			t.Fatalf("step %d, %s: tree %v after %d installs; want %v after %d", i, step.name, got, installs, want, step.installs)
		}
	}
}
