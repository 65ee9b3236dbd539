package archive

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// writeApt lays out files below root/etc/apt.
func writeApt(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, "etc/apt", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestHostMirror(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{{
		name: "deb822 skips security-only entry",
		files: map[string]string{"sources.list.d/debian.sources": `# comment
Types: deb
URIs: http://security.example.test/debian-security
Suites: bookworm-security
Components: main

Types: deb deb-src
URIs: http://archive.example.test/debian/
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`},
		want: "http://archive.example.test/debian",
	}, {
		name: "deb822 disabled and deb-src only entries skipped",
		files: map[string]string{"sources.list.d/a.sources": `Types: deb
URIs: http://off.example.test/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb-src
URIs: http://src.example.test/debian
Suites: bookworm
Components: main

Types: deb
URIs: cdrom:/media http://on.example.test/debian
Suites: trixie
Components: main
`},
		want: "http://on.example.test/debian",
	}, {
		name: "one-line with options, updates first",
		files: map[string]string{"sources.list": `# deb http://commented.example.test/debian bookworm main
deb-src http://src.example.test/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] https://upd.example.test/debian bookworm-updates main
deb [ arch=amd64 ] https://main.example.test/debian bookworm main contrib # trailing comment
`},
		want: "https://main.example.test/debian",
	}, {
		name: "sources.list before sources.list.d",
		files: map[string]string{
			"sources.list":                 "deb http://first.example.test/debian bookworm main\n",
			"sources.list.d/zz.list":       "deb http://later.example.test/debian bookworm main\n",
			"sources.list.d/aa.sources":    "Types: deb\nURIs: http://second.example.test/debian\nSuites: bookworm\nComponents: main\n",
			"sources.list.d/x.sources.bak": "Types: deb\nURIs: http://ignored.example.test/debian\nSuites: bookworm\n",
		},
		want: "http://first.example.test/debian",
	}, {
		name: "third-party repository loses to the Debian keyring",
		files: map[string]string{
			"sources.list.d/a-vendor.sources": "Types: deb\nURIs: https://vendor.example.test/apt\nSuites: nodistro\nComponents: main\nSigned-By: /usr/share/keyrings/vendor.gpg\n",
			"sources.list.d/debian.sources":   "Types: deb\nURIs: http://deb.example.test/debian\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
		},
		want: "http://deb.example.test/debian",
	}, {
		name:  "only a third-party repository",
		files: map[string]string{"sources.list.d/vendor.list": "deb [signed-by=/k.gpg] https://vendor.example.test/apt stable main\n"},
		want:  "https://vendor.example.test/apt",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := HostMirror(writeApt(t, tt.files))
			if err != nil || got != tt.want {
				t.Errorf("HostMirror = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestHostMirrorNone(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"empty":         {},
		"security only": {"sources.list": "deb http://sec.example.test/debian-security bookworm-security main\n"},
	} {
		if _, err := HostMirror(writeApt(t, files)); !errors.Is(err, ErrNoMirror) {
			t.Errorf("%s: error = %v, want ErrNoMirror", name, err)
		}
	}
	root := writeApt(t, map[string]string{"sources.list": "deb http://broken.example.test/debian\n"})
	if _, err := HostMirror(root); !errors.Is(err, ErrFormat) {
		t.Errorf("malformed line: error = %v, want ErrFormat", err)
	}
}

func TestMirrorFrom(t *testing.T) {
	t.Setenv(MirrorEnv, "http://env.example.test/debian/")
	if got, err := MirrorFrom("https://flag.example.test/debian"); err != nil || got != "https://flag.example.test/debian" {
		t.Errorf("flag: %q, %v", got, err)
	}
	if got, err := MirrorFrom(""); err != nil || got != "http://env.example.test/debian" {
		t.Errorf("env: %q, %v", got, err)
	}
	if _, err := MirrorFrom("ftp://old.example.test/debian"); !errors.Is(err, ErrNoMirror) {
		t.Errorf("ftp flag: error = %v", err)
	}
}
