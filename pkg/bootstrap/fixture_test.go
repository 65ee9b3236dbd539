package bootstrap

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/internal/testutil"
	"github.com/colinux-ng/colinux/pkg/bootstrap/bootstraptest"
	"github.com/colinux-ng/colinux/pkg/distkeys"
	"github.com/colinux-ng/colinux/pkg/pgpverify/pgptest"
	"github.com/colinux-ng/colinux/pkg/recipe"
)

// requireRoot: the Fedora and Gentoo sources chroot into the fixture
// root to run the package manager.
func requireRoot(t *testing.T) {
	t.Helper()
	testutil.Require(t, os.Geteuid() == 0, "bootstrap tests need root")
}

// fixtureRecipe parses a recipe written beside keys/test.asc, the public
// half of key, with FPR in the text replaced by key's fingerprint.
func fixtureRecipe(t *testing.T, key *pgptest.Key, text string) *recipe.Recipe {
	t.Helper()
	dir := t.TempDir()
	key.WritePublic(t, filepath.Join(dir, "keys", "test.asc"))
	path := filepath.Join(dir, "fixture.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(text, "FPR", key.Fingerprint())), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := recipe.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// bootstrapInto runs the recipe's source from mirror into a fresh tree
// and returns the tree with the result.
func bootstrapInto(t *testing.T, r *recipe.Recipe, mirror string) (string, *Result, error) {
	t.Helper()
	return bootstrapWith(t, r, Options{Mirror: mirror})
}

// bootstrapWith runs the recipe's source into a fresh tree with opts (and
// a fresh cache). Without opts.Keys, keys come from an empty fixture
// Debian archive, never from the network.
func bootstrapWith(t *testing.T, r *recipe.Recipe, opts Options) (string, *Result, error) {
	t.Helper()
	target := filepath.Join(t.TempDir(), "tree")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if opts.CacheDir == "" {
		opts.CacheDir = t.TempDir()
	}
	if opts.Keys == nil {
		dk := bootstraptest.WriteDistKeys(t, nil)
		opts.Keys = &distkeys.Fetcher{Mirror: dk.Mirror, Keyring: dk.Keyring, Suites: []string{"stable"}, Arch: "amd64"}
	}
	res, err := Bootstrap(context.Background(), r, target, opts)
	return target, res, err
}

// readTree reads a file of the tree, "" when absent.
func readTree(t *testing.T, target, rel string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(target, rel))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(data)
}

// assertEmptyTree: a download that failed verification unpacked nothing.
func assertEmptyTree(t *testing.T, target string) {
	t.Helper()
	entries, err := os.ReadDir(target)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) > 0 {
		t.Errorf("%s: unpacked before verification: %d entries", target, len(entries))
	}
}
