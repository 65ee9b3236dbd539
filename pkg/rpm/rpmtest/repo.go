package rpmtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/colinux-ng/colinux/pkg/pgpverify/pgptest"
)

// Repo is a repository written by WriteRepo; paths are relative to its
// base directory.
type Repo struct {
	Primary string            // repodata/<sha256>-primary.xml.zst
	Files   map[string]string // package name → its .rpm's path
}

// WriteRepo writes the packages, signed by key, under dir as createrepo_c
// lays out a repository: Packages/<initial>/<file>.rpm, a zstd-compressed
// primary.xml listing them with their provides, requires and files, and
// repodata/repomd.xml pointing to it.
func WriteRepo(t testing.TB, dir string, key *pgptest.Key, specs ...Spec) Repo {
	t.Helper()
	r := Repo{Files: map[string]string{}}
	var primary bytes.Buffer
	fmt.Fprintf(&primary, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"%d\">\n", len(specs))
	for _, s := range specs {
		k := key
		if s.Key != nil {
			k = s.Key
		}
		if s.Unsigned {
			k = nil
		}
		data := Build(t, s, k)
		if s.Data != nil {
			data = s.Data
		}
		rel := "Packages/" + s.Name[:1] + "/" + s.FileName()
		write(t, dir, rel, data)
		r.Files[s.Name] = rel
		sum := sha256.Sum256(data)
		fmt.Fprintf(&primary, "<package type=\"rpm\">\n  <name>%s</name>\n  <arch>%s</arch>\n  <version epoch=\"%d\" ver=\"%s\" rel=\"%s\"/>\n",
			s.Name, s.Arch, s.Epoch, s.Version, s.Release)
		fmt.Fprintf(&primary, "  <checksum type=\"sha256\" pkgid=\"YES\">%x</checksum>\n  <summary>fixture</summary>\n  <time file=\"%d\" build=\"%d\"/>\n",
			sum, s.BuildTime, s.BuildTime)
		fmt.Fprintf(&primary, "  <size package=\"%d\" installed=\"0\" archive=\"0\"/>\n  <location href=\"%s\"/>\n  <format>\n", len(data), rel)
		entries(&primary, "provides", append([]string{s.Name + " = " + s.evr()}, s.Provides...))
		entries(&primary, "requires", s.Requires)
		entries(&primary, "recommends", s.Recommends)
		entries(&primary, "conflicts", s.Conflicts)
		entries(&primary, "obsoletes", s.Obsoletes)
		for _, f := range s.Files {
			typ := ""
			if strings.HasSuffix(f.Path, "/") {
				typ = ` type="dir"`
			}
			fmt.Fprintf(&primary, "    <file%s>%s</file>\n", typ, esc(strings.TrimSuffix(f.Path, "/")))
		}
		primary.WriteString("  </format>\n</package>\n")
	}
	primary.WriteString("</metadata>\n")
	z, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	packed := z.EncodeAll(primary.Bytes(), nil)
	sum := sha256.Sum256(packed)
	r.Primary = "repodata/" + hex.EncodeToString(sum[:]) + "-primary.xml.zst"
	write(t, dir, r.Primary, packed)
	open := sha256.Sum256(primary.Bytes())
	write(t, dir, "repodata/repomd.xml", []byte(fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1735787045</revision>
  <data type="primary">
    <checksum type="sha256">%x</checksum>
    <open-checksum type="sha256">%x</open-checksum>
    <location href="%s"/>
    <timestamp>1735787045</timestamp>
    <size>%d</size>
    <open-size>%d</open-size>
  </data>
</repomd>
`, sum, open, r.Primary, len(packed), primary.Len())))
	return r
}

// entries writes rpm:provides or rpm:requires from "name [op evr]".
func entries(b *bytes.Buffer, kind string, deps []string) {
	if len(deps) == 0 {
		return
	}
	fmt.Fprintf(b, "    <rpm:%s>\n", kind)
	for _, d := range deps {
		name, flags, evr := d, "", ""
		if strings.HasPrefix(d, "(") {
			name = d
		} else if f := strings.Fields(d); len(f) == 3 {
			name, flags, evr = f[0], map[string]string{"<": "LT", ">": "GT", "=": "EQ", "<=": "LE", ">=": "GE"}[f[1]], f[2]
		}
		fmt.Fprintf(b, "      <rpm:entry name=\"%s\"", esc(name))
		if flags != "" {
			epoch, ver, rel := "0", evr, ""
			if i := strings.IndexByte(ver, ':'); i >= 0 {
				epoch, ver = ver[:i], ver[i+1:]
			}
			if i := strings.LastIndexByte(ver, '-'); i >= 0 {
				ver, rel = ver[:i], ver[i+1:]
			}
			fmt.Fprintf(b, " flags=\"%s\" epoch=\"%s\" ver=\"%s\"", flags, epoch, esc(ver))
			if rel != "" {
				fmt.Fprintf(b, " rel=\"%s\"", esc(rel))
			}
		}
		b.WriteString("/>\n")
	}
	fmt.Fprintf(b, "    </rpm:%s>\n", kind)
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func write(t testing.TB, dir, rel string, data []byte) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
