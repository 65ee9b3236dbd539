package archive

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// testPackages is a small universe exercising every resolver rule.
// Entries are completed with Filename, Size and SHA256 by testIndex.
const testPackages = `
Package: base-files
Version: 12.4
Architecture: amd64
Essential: yes
Priority: required
Pre-Depends: awk

Package: mawk
Version: 1.3.4-1
Architecture: amd64
Priority: required
Provides: awk

Package: gawk
Version: 1:5.2.1-2
Architecture: amd64
Priority: optional
Provides: awk

Package: dpkg
Version: 1.21.22
Architecture: amd64
Essential: yes
Priority: required
Pre-Depends: libc6 (>= 2.34), tar (>= 1.28-1)
Depends: zlib1g:any | libz-ng

Package: libc6
Version: 2.36-9
Architecture: amd64
Priority: optional
Multi-Arch: same

Package: libc6
Version: 2.30-1
Architecture: amd64
Priority: optional

Package: libc6
Version: 2.99-1
Architecture: i386
Priority: optional

Package: tar
Version: 1.34+dfsg-1.2
Architecture: amd64
Priority: required
Essential: yes

Package: zlib1g
Version: 1:1.2.13-1
Architecture: amd64
Priority: optional
Multi-Arch: same

Package: libz-ng
Version: 2.0
Architecture: amd64
Priority: optional

Package: apt
Version: 2.6.1
Architecture: amd64
Priority: important
Depends: libapt-pkg6.0 (>= 2.6.1), debian-archive-keyring, gpgv | gpgv2 | gpgv1, libstdc++6:native
Recommends: ca-certificates

Package: libapt-pkg6.0
Version: 2.6.1
Architecture: amd64
Priority: optional
Depends: libzstd1 (>= 1.5), libc6

Package: libzstd1
Version: 1.5.4+dfsg2-5
Architecture: amd64
Priority: optional

Package: debian-archive-keyring
Version: 2023.3
Architecture: all
Priority: important

Package: gpgv
Version: 2.2.40-1.1
Architecture: amd64
Priority: optional

Package: gpgv1
Version: 1.4.23-1.1
Architecture: amd64
Priority: optional
Provides: gpgv2

Package: libstdc++6
Version: 12.2.0-14
Architecture: amd64
Priority: optional

Package: ca-certificates
Version: 20230311
Architecture: all
Priority: optional

Package: cron
Version: 3.0pl1-162
Architecture: amd64
Priority: important
Depends: sensible-utils (>= 0.0.10), mail-transport-agent | default-mta

Package: sensible-utils
Version: 0.0.17
Architecture: all
Priority: required

Package: exim4
Version: 4.96-15
Architecture: amd64
Priority: standard
Provides: mail-transport-agent

Package: postfix
Version: 3.7.10-0
Architecture: amd64
Priority: optional
Provides: mail-transport-agent, default-mta (= 3.7.10-0)

Package: vprov-user
Version: 1
Architecture: amd64
Priority: optional
Depends: libfoo-abi (>= 2)

Package: libfoo-old
Version: 1
Architecture: amd64
Priority: optional
Provides: libfoo-abi

Package: libfoo-new
Version: 2
Architecture: amd64
Priority: optional
Provides: libfoo-abi (= 2.1)

Package: broken
Version: 1
Architecture: amd64
Priority: optional
Depends: libc6 (>= 3)

Package: needs-broken
Version: 1
Architecture: amd64
Priority: optional
Depends: broken

Package: foreign
Version: 1
Architecture: amd64
Priority: optional
Depends: libc6:i386
`

// testIndex parses text as a Packages file, filling in the download
// fields every entry needs.
func testIndex(t *testing.T, text string) *Index {
	t.Helper()
	var b strings.Builder
	for i, para := range strings.Split(strings.TrimSpace(text), "\n\n") {
		fmt.Fprintf(&b, "%s\nFilename: pool/main/p%d.deb\nSize: %d\nSHA256: %064x\n\n", para, i, 100+i, i)
	}
	pkgs, err := ParsePackages(strings.NewReader(b.String()), "test Packages")
	if err != nil {
		t.Fatal(err)
	}
	return NewIndex("amd64", pkgs)
}

func names(pkgs []*Package) string {
	var s []string
	for _, p := range pkgs {
		s = append(s, p.Name+"="+p.Version)
	}
	return strings.Join(s, " ")
}

func TestResolve(t *testing.T) {
	ix := testIndex(t, testPackages)
	tests := []struct {
		variant Variant
		extra   []string
		want    string
	}{{
		variant: Minbase,
		// libc6: the newest amd64 version; the i386 one is not in the index.
		// awk: mawk (required) beats gawk. zlib1g:any is the first
		// alternative; gpgv is the first of its group.
		want: "apt=2.6.1 base-files=12.4 debian-archive-keyring=2023.3 dpkg=1.21.22 gpgv=2.2.40-1.1 " +
			"libapt-pkg6.0=2.6.1 libc6=2.36-9 libstdc++6=12.2.0-14 libzstd1=1.5.4+dfsg2-5 mawk=1.3.4-1 " +
			"sensible-utils=0.0.17 tar=1.34+dfsg-1.2 zlib1g=1:1.2.13-1",
	}, {
		variant: Minbase,
		// Alternatives prefer what is already selected: the requested gpgv1
		// meets apt's "gpgv | gpgv2 | gpgv1" (directly, and as gpgv2 via its
		// Provides) and libz-ng meets dpkg's "zlib1g:any | libz-ng", so
		// neither first alternative is added.
		extra: []string{"gpgv1", "libz-ng"},
		want: "apt=2.6.1 base-files=12.4 debian-archive-keyring=2023.3 dpkg=1.21.22 gpgv1=1.4.23-1.1 " +
			"libapt-pkg6.0=2.6.1 libc6=2.36-9 libstdc++6=12.2.0-14 libz-ng=2.0 libzstd1=1.5.4+dfsg2-5 " +
			"mawk=1.3.4-1 sensible-utils=0.0.17 tar=1.34+dfsg-1.2",
	}, {
		variant: Important,
		// cron's MTA: exim4 (standard) beats postfix (optional) among the
		// providers of mail-transport-agent.
		want: "apt=2.6.1 base-files=12.4 cron=3.0pl1-162 debian-archive-keyring=2023.3 dpkg=1.21.22 exim4=4.96-15 " +
			"gpgv=2.2.40-1.1 libapt-pkg6.0=2.6.1 libc6=2.36-9 libstdc++6=12.2.0-14 libzstd1=1.5.4+dfsg2-5 " +
			"mawk=1.3.4-1 sensible-utils=0.0.17 tar=1.34+dfsg-1.2 zlib1g=1:1.2.13-1",
	}, {
		variant: Minbase,
		// Versioned dependency on a virtual package: only the versioned
		// Provides of libfoo-new qualifies, not libfoo-old's unversioned
		// one. Asking for gawk adds it beside mawk, which awk already chose.
		extra: []string{"vprov-user", "gawk"},
		want: "apt=2.6.1 base-files=12.4 debian-archive-keyring=2023.3 dpkg=1.21.22 gawk=1:5.2.1-2 gpgv=2.2.40-1.1 " +
			"libapt-pkg6.0=2.6.1 libc6=2.36-9 libfoo-new=2 libstdc++6=12.2.0-14 libzstd1=1.5.4+dfsg2-5 mawk=1.3.4-1 " +
			"sensible-utils=0.0.17 tar=1.34+dfsg-1.2 vprov-user=1 zlib1g=1:1.2.13-1",
	}}
	for i, tt := range tests {
		got, err := ix.Resolve(tt.variant, tt.extra)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if s := names(got); s != tt.want {
			t.Errorf("%d: Resolve(%s, %q)\n got  %s\n want %s", i, tt.variant, tt.extra, s, tt.want)
		}
	}
}

func TestResolveDeterministic(t *testing.T) {
	ix := testIndex(t, testPackages)
	first, err := ix.Resolve(Standard, []string{"postfix"})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, err := ix.Resolve(Standard, []string{"postfix"})
		if err != nil || names(again) != names(first) {
			t.Fatalf("run differs: %s vs %s (%v)", names(again), names(first), err)
		}
	}
	// postfix was asked for, so cron's MTA group is already met by it and
	// exim4 (Priority standard) is selected only as a seed.
	if s := names(first); !strings.Contains(s, "postfix=") || !strings.Contains(s, "exim4=") {
		t.Errorf("standard+postfix = %s", s)
	}
}

func TestResolveErrors(t *testing.T) {
	ix := testIndex(t, testPackages)
	tests := []struct {
		extra []string
		want  []string // substrings of the error
	}{
		{[]string{"needs-broken"}, []string{"libc6 (>= 3)", "(requested) -> needs-broken -> broken", "libc6 2.36-9 already selected"}},
		{[]string{"no-such-package"}, []string{"no-such-package is not in the index", "(requested)"}},
		{[]string{"foreign"}, []string{"libc6:i386", "architecture i386 is not amd64", "-> foreign"}},
		// The request takes the old libc6 first; dpkg then cannot have its own.
		{[]string{"libc6 (<< 2.31)"}, []string{"libc6 (>= 2.34)", "libc6 2.30-1 already selected", "(minbase) -> dpkg"}},
		{[]string{"zlib1g (>= 1:2)"}, []string{"zlib1g available only as 1:1.2.13-1"}},
		{[]string{"libfoo-abi (>= 3)"}, []string{"no provider of libfoo-abi matches"}},
	}
	for _, tt := range tests {
		_, err := ix.Resolve(Minbase, tt.extra)
		if !errors.Is(err, ErrUnresolvable) {
			t.Fatalf("%q: error = %v, want ErrUnresolvable", tt.extra, err)
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q lacks %q", tt.extra, err, w)
			}
		}
	}
	if _, err := ix.Resolve("huge", nil); err == nil {
		t.Error("unknown variant accepted")
	}
	if _, err := ix.Resolve(Minbase, []string{"bad name!"}); !errors.Is(err, ErrFormat) {
		t.Errorf("bad extra: %v", err)
	}
}

func TestParseRelations(t *testing.T) {
	got, err := ParseRelations("libc6 (>= 2.34), a:any | b (<< 1:2~) |c:native, d (> 1), e (<1)")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"libc6 (>= 2.34)"}, {"a:any", "b (<< 1:2~)", "c:native"}, {"d (>= 1)"}, {"e (<= 1)"}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		for j := range want[i] {
			if got[i][j].String() != want[i][j] {
				t.Errorf("relation %d.%d = %q, want %q", i, j, got[i][j], want[i][j])
			}
		}
	}
	for _, bad := range []string{"a (>= )", "a (~ 1)", "a [amd64]", "A", "a (>= 1", "a | , b", "a:"} {
		if _, err := ParseRelations(bad); !errors.Is(err, ErrFormat) {
			t.Errorf("ParseRelations(%q) error = %v", bad, err)
		}
	}
	rel := func(s string) Relation {
		r, err := parseRelation(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	v := func(s string) Version {
		x, err := ParseVersion(s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	for _, tt := range []struct {
		rel, ver string
		ok       bool
	}{
		{"a (<< 2)", "1.9", true}, {"a (<< 2)", "2", false},
		{"a (<= 2)", "2", true}, {"a (<= 2)", "2.0.1", false},
		{"a (= 2)", "2", true}, {"a (= 2)", "2-1", false},
		{"a (>= 2)", "2", true}, {"a (>= 2)", "2~rc1", false},
		{"a (>> 2)", "2+b1", true}, {"a (>> 2)", "2", false},
		{"a", "0", true},
	} {
		if got := rel(tt.rel).allows(v(tt.ver)); got != tt.ok {
			t.Errorf("%s allows %s = %v", tt.rel, tt.ver, got)
		}
	}
}
