package bootstrap

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/colinux-ng/colinux/pkg/archive"
	"github.com/colinux-ng/colinux/pkg/recipe"
)

// resolvedArea holds resolutions below the cache directory: which
// packages a request resolved to in indices the signed Release named by
// SHA256. A warm build then neither hashes nor parses the Packages files,
// the largest cost left once the base is cached. Each entry is trusted
// like the base cache beside it (written by this user from verified
// indices); the .debs it names are still checked against its SHA256s.
const resolvedArea = "resolved"

// resolutionKey names a resolution by everything that decides it, or ""
// when the Release lacks an uncompressed Packages hash to name.
func resolutionKey(c *archive.Client, rel *archive.Release, r *recipe.Recipe) string {
	h := sha256.New()
	fmt.Fprintf(h, "coimage resolution v1\nprogram %s\narch %s\nvariant %s\ninstall %q\n",
		programID(), c.Arch, r.Source.Debian.Variant, r.Packages.Install)
	for _, comp := range c.Components {
		plain := comp + "/binary-" + c.Arch + "/Packages"
		want, ok := rel.Files[plain]
		if !ok || programID() == "" {
			return ""
		}
		fmt.Fprintf(h, "%s %s %d\n", plain, want.SHA256, want.Size)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// resolve returns the recipe's packages from the resolution cache, else
// loads the index, resolves and caches the result.
func resolve(c *archive.Client, rel *archive.Release, r *recipe.Recipe, load func() (*archive.Index, error)) ([]*archive.Package, error) {
	key := resolutionKey(c, rel, r)
	path := filepath.Join(c.CacheDir, resolvedArea, key+".json")
	if key != "" {
		if data, err := os.ReadFile(path); err == nil {
			var pkgs []*archive.Package
			if json.Unmarshal(data, &pkgs) == nil && len(pkgs) > 0 {
				return pkgs, nil
			}
		}
	}
	ix, err := load()
	if err != nil {
		return nil, err
	}
	pkgs, err := ix.Resolve(archive.Variant(r.Source.Debian.Variant), withMergedUsr(ix, r.Packages.Install))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.File, err)
	}
	if key != "" {
		var buf bytes.Buffer
		if json.NewEncoder(&buf).Encode(pkgs) == nil {
			writeFile(path, buf.Bytes()) // a resolution not saved costs the next build its speed only
		}
	}
	return pkgs, nil
}
