package rpmrepo

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/colinux-ng/colinux/pkg/pgpverify/pgptest"
	"github.com/colinux-ng/colinux/pkg/rpm/rpmtest"
)

func pkg(name, ver string, requires []string, provides ...string) rpmtest.Spec {
	return rpmtest.Spec{Name: name, Version: ver, Release: "1.fc44", Arch: "x86_64", Requires: requires, Provides: provides,
		Files: []rpmtest.File{{Path: "/usr/bin/" + name, Body: name}}}
}

// readRepo writes specs as a repository and reads it back as repo n.
func readRepo(t *testing.T, key *pgptest.Key, n int, specs ...rpmtest.Spec) []*Package {
	t.Helper()
	dir := t.TempDir()
	rpmtest.WriteRepo(t, dir, key, specs...)
	repomd, err := os.ReadFile(filepath.Join(dir, "repodata/repomd.xml"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Primary(repomd, "repomd.xml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, d.Location))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := zstd.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	pkgs, err := ParsePrimary(z, n, func(a string) bool { return a == "x86_64" || a == "noarch" }, d.Location)
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

func names(pkgs []*Package) string {
	var out []string
	for _, p := range pkgs {
		out = append(out, p.NEVRA())
	}
	return strings.Join(out, " ")
}

func TestResolve(t *testing.T) {
	key := pgptest.NewKey(t)
	release := readRepo(t, key, 0,
		pkg("bash", "5.2", []string{"glibc >= 2.40", "/usr/bin/ldconfig"}),
		pkg("glibc", "2.39", nil),
		pkg("coreutils", "9.5", []string{"(coreutils-common or coreutils-single)", "(bash-completion if bash)"}),
		pkg("coreutils-single", "9.5", nil),
		pkg("bash-completion", "2.11", nil),
		pkg("zsh", "5.9", []string{"(ncurses if systemd)"}),
		pkg("ncurses", "6.5", nil),
		pkg("shells", "1", []string{"sh-provider", "identity"}),
		func() rpmtest.Spec {
			s := pkg("fedora-release", "44", nil)
			s.Recommends = []string{"identity-basic"}
			return s
		}(),
		pkg("identity-basic", "44", nil, "identity"),
		pkg("identity-kde", "44", nil, "identity"),
		pkg("dash", "0.5", nil, "sh-provider"),
		pkg("busybox", "1.36", nil, "sh-provider"),
	)
	updates := readRepo(t, key, 1, pkg("glibc", "2.40", nil, "/usr/bin/ldconfig"))
	if len(release) != 13 || release[0].Files[0] != "/usr/bin/bash" || release[0].Requires[0].String() != "glibc >= 2.40" {
		t.Fatalf("parsed %+v", release[0])
	}
	ix := NewIndex(append(release, updates...))
	got, err := ix.Resolve([]string{"bash", "coreutils", "zsh", "fedora-release", "shells"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "bash-5.2-1.fc44.x86_64 bash-completion-2.11-1.fc44.x86_64 coreutils-9.5-1.fc44.x86_64 coreutils-single-9.5-1.fc44.x86_64 " +
		"dash-0.5-1.fc44.x86_64 fedora-release-44-1.fc44.x86_64 glibc-2.40-1.fc44.x86_64 identity-basic-44-1.fc44.x86_64 shells-1-1.fc44.x86_64 zsh-5.9-1.fc44.x86_64"
	if names(got) != want {
		t.Errorf("resolved\n%s\nwant\n%s", names(got), want)
	}
	if got[6].Repo != 1 {
		t.Errorf("glibc from repo %d, want the updates", got[5].Repo)
	}

	for _, tc := range []struct {
		install, exclude []string
		msg              string
	}{
		{[]string{"nothing"}, nil, "the recipe requires nothing, which no package provides"},
		{[]string{"bash"}, []string{"glibc"}, "bash-5.2-1.fc44.x86_64 requires glibc >= 2.40, which only glibc provides, and the recipe removes it"},
		{[]string{"bash"}, []string{"bash"}, "bash is both installed and removed"},
	} {
		_, err := ix.Resolve(tc.install, tc.exclude)
		if !errors.Is(err, ErrUnresolvable) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Resolve(%v, %v): %v, want %q", tc.install, tc.exclude, err, tc.msg)
		}
	}
	old := NewIndex(release)
	if _, err := old.Resolve([]string{"bash"}, nil); err == nil || !strings.Contains(err.Error(), "glibc >= 2.40") {
		t.Errorf("without the update: %v", err)
	}
}

// TestResolveClashes: conflicts and obsoletes as a Fedora install meets
// them: the identity packages provide and conflict with one capability,
// a renamed package obsoletes the old name, -minimal variants conflict
// with the full ones.
func TestResolveClashes(t *testing.T) {
	with := func(s rpmtest.Spec, conflicts, obsoletes []string) rpmtest.Spec {
		s.Conflicts, s.Obsoletes = conflicts, obsoletes
		return s
	}
	key := pgptest.NewKey(t)
	ix := NewIndex(readRepo(t, key, 0,
		with(pkg("identity-basic", "44", nil, "identity"), []string{"identity"}, nil),
		with(pkg("identity-kde", "44", nil, "identity"), []string{"identity"}, nil),
		pkg("release", "44", []string{"identity"}),
		pkg("kde-release", "44", []string{"identity-kde"}),
		// a-tools was renamed z-tools; both provide tools, the old name sorts first
		pkg("a-tools", "1.0", nil, "tools"),
		with(pkg("z-tools", "2.0", nil, "tools"), nil, []string{"a-tools < 2.0"}),
		pkg("bb-tools", "1.0", nil),
		with(pkg("bb-tools-ng", "2.0", nil), nil, []string{"bb-tools < 1.0"}),
		pkg("uses-tools", "1", []string{"tools"}),
		pkg("uses-a-tools", "1", []string{"a-tools"}),
		with(pkg("z-tools-only", "1", []string{"z-tools"}), nil, nil),
		// libcurl is preferred (shorter name) unless something conflicts with it
		pkg("libcurl", "8.9", nil, "libcurl.so.4"),
		with(pkg("libcurl-minimal", "8.9", nil, "libcurl.so.4"), []string{"libcurl"}, nil),
		pkg("curl", "8.9", []string{"libcurl.so.4"}),
		with(pkg("no-full-curl", "1", nil), []string{"libcurl"}, nil),
	))
	for _, tc := range []struct {
		install []string
		want    string // resolved names, or the error's text
	}{
		// the first identity chosen blocks the others; it does not block itself
		{[]string{"identity-basic", "kde-release"}, "identity-kde-44-1.fc44.x86_64: identity-basic-44-1.fc44.x86_64 conflicts with identity"},
		{[]string{"kde-release", "release"}, "identity-kde kde-release release"},
		// the obsoleted provider gives way to its replacement
		{[]string{"uses-tools"}, "uses-tools z-tools"},
		// an obsolete whose version range misses the package is no clash
		{[]string{"bb-tools", "bb-tools-ng"}, "bb-tools bb-tools-ng"},
		// a package obsoleted by a chosen one is refused, either way round
		{[]string{"z-tools-only", "uses-a-tools"}, "z-tools-2.0-1.fc44.x86_64 obsoletes a-tools < 2.0"},
		{[]string{"uses-a-tools", "z-tools-only"}, "z-tools-2.0-1.fc44.x86_64 obsoletes a-tools < 2.0 (a-tools-1.0-1.fc44.x86_64)"},
		// a provider a chosen package conflicts with is passed over
		{[]string{"curl"}, "curl libcurl"},
		{[]string{"no-full-curl", "curl"}, "curl libcurl-minimal no-full-curl"},
		{[]string{"libcurl", "no-full-curl"}, "no-full-curl-1-1.fc44.x86_64 conflicts with libcurl"},
	} {
		got, err := ix.Resolve(tc.install, nil)
		if err != nil {
			if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Resolve(%v): %v, want %q", tc.install, err, tc.want)
			}
			continue
		}
		var ns []string
		for _, p := range got {
			ns = append(ns, p.Name)
		}
		if strings.Join(ns, " ") != tc.want {
			t.Errorf("Resolve(%v) = %v, want %s", tc.install, ns, tc.want)
		}
	}
}

func TestParseRich(t *testing.T) {
	for in, want := range map[string]string{
		"(a or b)":                       "(a or b)",
		"(a >= 1.0 and (b if c else d))": "(a >= 1.0 and (b if c else d))",
		"((a with b) or c = 1:2-3)":      "((a with b) or c = 1:2-3)",
		"(kernel-core unless (lxc))":     "(kernel-core unless lxc)",
	} {
		r, err := parseRich(in)
		if err != nil || r.String() != want {
			t.Errorf("parseRich(%q) = %v, %v; want %s", in, r, err, want)
		}
	}
	for _, bad := range []string{"(a or", "(a or b and c)", "(a >=)", "a", "(a) b", "(" + strings.Repeat("(", 40) + "a" + strings.Repeat(")", 41)} {
		if _, err := parseRich(bad); !errors.Is(err, ErrFormat) {
			t.Errorf("parseRich(%q): %v", bad, err)
		}
	}
}

func TestPrimaryRefuses(t *testing.T) {
	for _, bad := range []string{
		`<repomd><data type="primary"><checksum type="sha1">ab</checksum><location href="repodata/p.xml.gz"/></data></repomd>`,
		`<repomd><data type="primary"><checksum type="sha256">` + strings.Repeat("a", 64) + `</checksum><location href="../../etc/passwd"/></data></repomd>`,
		`<repomd><data type="other"/></repomd>`,
		`not xml`,
	} {
		if _, err := Primary([]byte(bad), "repomd.xml"); !errors.Is(err, ErrFormat) {
			t.Errorf("Primary(%q): %v", bad, err)
		}
	}
}

// TestParsePrimaryShape: only <package>'s own name and version count,
// entities are decoded, other dependency kinds and architectures and
// source packages are left out.
func TestParsePrimaryShape(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	xml := `<?xml version="1.0"?><metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
<package type="rpm"><name>a</name><arch>x86_64</arch><version epoch="1" ver="2" rel="3"/>
<checksum type="sha256" pkgid="YES">` + sum + `</checksum><summary>name &amp; more</summary><description><name>not this</name></description>
<time file="5" build="7"/><size package="11"/><location href="Packages/a/a.rpm"/>
<format><rpm:provides><rpm:entry name="a" flags="EQ" epoch="1" ver="2" rel="3"/></rpm:provides>
<rpm:requires><rpm:entry name="(b &lt; 2 or c)"/><rpm:entry name="rpmlib(PayloadIsZstd)" flags="LE" ver="5.4.18"/></rpm:requires>
<rpm:conflicts><rpm:entry name="d"/></rpm:conflicts><rpm:obsoletes><rpm:entry name="e"/></rpm:obsoletes>
<file>/usr/bin/a</file><file type="dir">/etc/a</file></format></package>
<package type="rpm"><name>a</name><arch>src</arch><version ver="2" rel="3"/><checksum type="sha256">` + sum + `</checksum><location href="a.src.rpm"/></package>
<package type="rpm"><name>a</name><arch>i686</arch><version ver="2" rel="3"/><checksum type="sha256">` + sum + `</checksum><location href="a.i686.rpm"/></package>
</metadata>`
	pkgs, err := ParsePrimary(strings.NewReader(xml), 3, func(a string) bool { return a == "x86_64" || a == "noarch" }, "primary.xml")
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 1 {
		t.Fatalf("%d packages", len(pkgs))
	}
	p := pkgs[0]
	if p.NEVRA() != "a-1:2-3.x86_64" || p.SHA256 != sum || p.Size != 11 || p.BuildTime != 7 || p.Repo != 3 || p.Location != "Packages/a/a.rpm" {
		t.Errorf("package %+v", p)
	}
	if len(p.Requires) != 1 || p.Requires[0].Name != "(b < 2 or c)" || len(p.Provides) != 1 || strings.Join(p.Files, " ") != "/usr/bin/a /etc/a" {
		t.Errorf("format %+v %+v %q", p.Requires, p.Provides, p.Files)
	}
	for _, bad := range []string{
		`<metadata><package><name>a</name>`,
		`<metadata><package><package></package></package></metadata>`,
		`<package><name>a</name></package>`,
	} {
		if _, err := ParsePrimary(strings.NewReader(bad), 0, func(string) bool { return true }, "p"); !errors.Is(err, ErrFormat) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
