package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzVersion(f *testing.F) {
	for _, s := range []string{"1.0", "1:2.3-4", "1.0~rc1", "2.36-9+deb12u4", "1.2-3-4", "0", "a:b"} {
		f.Add(s, "1.0-1")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		va, erra := ParseVersion(a)
		vb, errb := ParseVersion(b)
		if erra != nil || errb != nil {
			return
		}
		if va.Compare(vb) != -vb.Compare(va) {
			t.Fatalf("Compare(%q, %q) not antisymmetric", a, b)
		}
		again, err := ParseVersion(va.String())
		if err != nil || again.Compare(va) != 0 {
			t.Fatalf("%q -> %q does not round-trip: %v", a, va.String(), err)
		}
	})
}

func FuzzParseRelations(f *testing.F) {
	f.Add("libc6 (>= 2.34), a:any | b (<< 1:2~) | c:native")
	f.Add("default-mta | mail-transport-agent, x (= 1)")
	f.Fuzz(func(t *testing.T, s string) {
		groups, err := ParseRelations(s)
		if err != nil {
			return
		}
		// What parsed prints back as something that parses the same.
		var parts []string
		for _, g := range groups {
			parts = append(parts, relationsString(g))
		}
		again, err := ParseRelations(strings.Join(parts, ", "))
		if err != nil || len(again) != len(groups) {
			t.Fatalf("%q: reparse %v (%d vs %d groups)", s, err, len(again), len(groups))
		}
	})
}

// FuzzPackages drives the Packages parser and the resolver over whatever
// parses: neither may panic or loop.
func FuzzPackages(f *testing.F) {
	f.Add([]byte(strings.ReplaceAll(testPackages, "Priority:", "Filename: a.deb\nSize: 1\nSHA256: "+strings.Repeat("ab", 32)+"\nPriority:")))
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := ParsePackages(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		ix := NewIndex("amd64", pkgs)
		var extra []string
		for _, p := range pkgs {
			extra = append(extra, p.Name)
		}
		for _, v := range []Variant{NoBase, Standard} {
			ix.Resolve(v, extra)
		}
	})
}

func FuzzRelease(f *testing.F) {
	f.Add([]byte("Origin: Debian\nSuite: stable\nCodename: bookworm\nDate: Sat, 11 Jul 2026 10:16:37 UTC\nValid-Until: Sat, 18 Jul 2026 10:16:37 UTC\nSHA256:\n " +
		strings.Repeat("0", 64) + " 12 main/binary-amd64/Packages.xz\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rel, err := parseRelease(data, "fuzz")
		if err == nil && len(rel.Files) == 0 {
			t.Fatal("Release without files accepted")
		}
	})
}

// FuzzDeb feeds mutated .debs to the reader and the extractor, which must
// never write outside the destination.
func FuzzDeb(f *testing.F) {
	f.Add(buildDeb(f, helloControl, map[string]string{"postinst": "#!/bin/sh\n"}, helloData(), "gz"))
	f.Add(buildDeb(f, helloControl, nil, []tfile{{name: "./l", typ: tar.TypeSymlink, link: ".."}, {name: "./l/x", body: "x"}}, "gz"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := NewDeb(bytes.NewReader(data), int64(len(data)), "fuzz.deb")
		if err != nil {
			return
		}
		d.Control()
		base := t.TempDir()
		dest := filepath.Join(base, "dest")
		if err := os.Mkdir(dest, 0o755); err != nil {
			t.Fatal(err)
		}
		d.ExtractData(context.Background(), dest, ExtractOptions{Unprivileged: true})
		if ents, _ := os.ReadDir(base); len(ents) != 1 {
			t.Fatalf("extraction wrote outside dest: %v", ents)
		}
	})
}

// FuzzExtractTar feeds the extractor raw tar streams (FuzzDeb's mutations
// rarely survive decompression): whatever they hold, nothing lands
// outside the destination.
func FuzzExtractTar(f *testing.F) {
	f.Add(buildTar(f, helloData()))
	f.Add(buildTar(f, []tfile{
		{name: "./d/", typ: tar.TypeDir, mode: 0o555},
		{name: "./d/f", body: "x", mode: 0o4755},
		{name: "./h", typ: tar.TypeLink, link: "./d/f"},
		{name: "./l", typ: tar.TypeSymlink, link: "/"},
		{name: "./l/escape", body: "x"},
		{name: "./p", typ: tar.TypeFifo},
	}))
	f.Fuzz(func(t *testing.T, data []byte) {
		base := t.TempDir()
		dest := filepath.Join(base, "dest")
		if err := os.Mkdir(dest, 0o755); err != nil {
			t.Fatal(err)
		}
		ExtractTar(context.Background(), tar.NewReader(bytes.NewReader(data)), dest, "fuzz.tar", ExtractOptions{Unprivileged: true})
		if ents, _ := os.ReadDir(base); len(ents) != 1 {
			t.Fatalf("extraction wrote outside dest: %v", ents)
		}
	})
}
