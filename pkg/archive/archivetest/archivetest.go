// Package archivetest writes signed fixture Debian archives at test time:
// the real layout (dists/<codename>/InRelease clearsigned by a pgptest key,
// <component>/binary-<arch>/Packages.xz listed in it by size and SHA256,
// .debs under pool/), to be served on 127.0.0.1 with bootstraptest.Serve
// or any file server.
package archivetest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ulikunitz/xz"

	"github.com/colinux-ng/colinux/pkg/pgpverify/pgptest"
)

// Package is one entry of a fixture suite: a .deb and the fields of its
// Packages paragraph. Filename, Size and SHA256 are filled in by Write.
type Package struct {
	Name, Version, Architecture string
	// Fields are further "Name: value" lines of the Packages paragraph
	// (Depends, Priority, Essential…), without a final newline.
	Fields []string
	Deb    []byte
}

// Suite is one suite of a fixture archive.
type Suite struct {
	Codename, Suite string // Suite defaults to Codename
	Origin          string // default "Debian"
	Component       string // default "main"
	Arch            string // default "amd64"
	Date            time.Time
	Packages        []Package
}

// Write lays out the suites below dir, signed by key.
func Write(t testing.TB, dir string, key *pgptest.Key, suites ...Suite) {
	t.Helper()
	for _, s := range suites {
		writeSuite(t, dir, key, s)
	}
}

func writeSuite(t testing.TB, dir string, key *pgptest.Key, s Suite) {
	t.Helper()
	if s.Suite == "" {
		s.Suite = s.Codename
	}
	if s.Origin == "" {
		s.Origin = "Debian"
	}
	if s.Component == "" {
		s.Component = "main"
	}
	if s.Arch == "" {
		s.Arch = "amd64"
	}
	if s.Date.IsZero() {
		s.Date = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	}
	var idx strings.Builder
	for _, p := range s.Packages {
		pool := fmt.Sprintf("pool/%s/%s/%s/%s_%s_%s.deb", s.Component, p.Name[:1], p.Name, p.Name, p.Version, p.Architecture)
		write(t, dir, pool, p.Deb)
		fmt.Fprintf(&idx, "Package: %s\nVersion: %s\nArchitecture: %s\n", p.Name, p.Version, p.Architecture)
		for _, f := range p.Fields {
			idx.WriteString(f + "\n")
		}
		fmt.Fprintf(&idx, "Filename: %s\nSize: %d\nSHA256: %s\n\n", pool, len(p.Deb), sum(p.Deb))
	}
	plain := []byte(idx.String())
	compressed := XZ(t, plain)
	rel := s.Component + "/binary-" + s.Arch + "/Packages"
	release := fmt.Sprintf("Origin: %s\nLabel: %s\nSuite: %s\nCodename: %s\nDate: %s\nArchitectures: %s\nComponents: %s\nSHA256:\n %s %d %s\n %s %d %s.xz\n",
		s.Origin, s.Origin, s.Suite, s.Codename, s.Date.Format(time.RFC1123), s.Arch, s.Component,
		sum(plain), len(plain), rel, sum(compressed), len(compressed), rel)
	inRelease := key.Clearsign(t, release)
	// Mirrors serve a suite under its codename and its suite name.
	for _, name := range []string{s.Codename, s.Suite} {
		write(t, dir, "dists/"+name+"/"+rel, plain)
		write(t, dir, "dists/"+name+"/"+rel+".xz", compressed)
		write(t, dir, "dists/"+name+"/InRelease", inRelease)
	}
}

// File is one regular file or symlink of a fixture package's data.
type File struct {
	Path string // relative, e.g. "usr/share/keyrings/x.gpg"
	Body []byte
	Link string // a symlink target instead of a body
}

// Deb builds a .deb (gzip-compressed members) holding files, with the
// control file describing name, version and architecture.
func Deb(t testing.TB, name, version, arch string, files ...File) []byte {
	t.Helper()
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: test <test@example.invalid>\nDescription: fixture\n", name, version, arch)
	ctl := tarOf(t, []File{{Path: "control", Body: []byte(control)}})
	data := tarOf(t, files)
	var buf bytes.Buffer
	buf.WriteString("!<arch>\n")
	for _, m := range []struct {
		name string
		body []byte
	}{{"debian-binary", []byte("2.0\n")}, {"control.tar.xz", XZ(t, ctl)}, {"data.tar.xz", XZ(t, data)}} {
		fmt.Fprintf(&buf, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m.name, 0, 0, 0, "100644", len(m.body))
		buf.Write(m.body)
		if len(m.body)%2 == 1 {
			buf.WriteByte('\n')
		}
	}
	return buf.Bytes()
}

// tarOf writes files, with their parent directories, as dpkg-deb does
// ("./" names, directories first).
func tarOf(t testing.TB, files []File) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	var names []string
	for _, f := range files {
		for d := filepath.Dir(f.Path); d != "."; d = filepath.Dir(d) {
			if !dirs[d] {
				dirs[d] = true
				names = append(names, d)
			}
		}
	}
	sort.Strings(names)
	must(t, tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}))
	for _, d := range names {
		must(t, tw.WriteHeader(&tar.Header{Name: "./" + d + "/", Typeflag: tar.TypeDir, Mode: 0o755}))
	}
	for _, f := range files {
		h := &tar.Header{Name: "./" + f.Path, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.Body))}
		if f.Link != "" {
			h = &tar.Header{Name: "./" + f.Path, Typeflag: tar.TypeSymlink, Mode: 0o777, Linkname: f.Link}
		}
		must(t, tw.WriteHeader(h))
		_, err := tw.Write(f.Body)
		must(t, err)
	}
	must(t, tw.Close())
	return buf.Bytes()
}

// XZ compresses data with the host's xz when present (much faster than
// the pure-Go encoder), else in Go.
func XZ(t testing.TB, data []byte) []byte {
	t.Helper()
	if path, err := exec.LookPath("xz"); err == nil {
		cmd := exec.Command(path, "-1", "--stdout")
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.Output()
		must(t, err)
		return out
	}
	var buf bytes.Buffer
	w, err := xz.NewWriter(&buf)
	must(t, err)
	_, err = io.Copy(w, bytes.NewReader(data))
	must(t, err)
	must(t, w.Close())
	return buf.Bytes()
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func write(t testing.TB, dir, rel string, data []byte) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, data, 0o644))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
