package bootstrap

import (
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/pkg/archive"
	"github.com/colinux-ng/colinux/pkg/recipe"
)

func TestResolutionCache(t *testing.T) {
	const packages = "Package: apt\nVersion: 2.0\nArchitecture: amd64\nPriority: required\nFilename: pool/main/a/apt/apt_2.0_amd64.deb\nSize: 10\nSHA256: " +
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
	r, err := recipe.Parse([]byte("image: {name: t, distribution: debian, release: trixie}\n"), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := &archive.Client{Arch: "amd64", Components: []string{"main"}, CacheDir: t.TempDir()}
	rel := &archive.Release{Files: map[string]archive.FileHash{"main/binary-amd64/Packages": {Size: 1, SHA256: strings.Repeat("a", 64)}}}
	loads := 0
	load := func() (*archive.Index, error) {
		loads++
		pkgs, err := archive.ParsePackages(strings.NewReader(packages), "Packages")
		return archive.NewIndex("amd64", pkgs), err
	}
	for i := range 2 {
		pkgs, err := resolve(c, rel, r, load)
		if err != nil {
			t.Fatal(err)
		}
		if len(pkgs) != 1 || pkgs[0].Name != "apt" || pkgs[0].SHA256[:4] != "0123" || pkgs[0].Filename != "pool/main/a/apt/apt_2.0_amd64.deb" {
			t.Fatalf("round %d: %+v", i, pkgs)
		}
	}
	if loads != 1 {
		t.Errorf("the index was loaded %d times, want once", loads)
	}
	// Another signed index is another resolution.
	rel.Files["main/binary-amd64/Packages"] = archive.FileHash{Size: 1, SHA256: strings.Repeat("b", 64)}
	if _, err := resolve(c, rel, r, load); err != nil || loads != 2 {
		t.Errorf("after the index changed: %d loads, %v", loads, err)
	}
}
