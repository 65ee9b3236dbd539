package recipe

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/pkg/cobd"
	"gopkg.in/yaml.v3"
)

// head is a valid start that bad recipes extend; it is 4 lines long.
const head = `image:
  name: test
  distribution: debian
  release: bookworm
`

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string // each must appear in the error
	}{
		{"unknown key", head + "pakages:\n  install: [vim]\n",
			[]string{`bad.yaml:5: unknown key "pakages" in recipe`}},
		{"unknown nested key", head + "  colour: blue\n",
			[]string{`bad.yaml:5: unknown key "colour" in image`}},
		{"key of another source type", head + "source:\n  type: debian\n  flavor: systemd\n",
			[]string{`bad.yaml:7: unknown key "flavor" in source (type debian)`}},
		{"wrong type", head + "hostname: [a, b]\n",
			[]string{`bad.yaml:5: hostname: want a string, got a list`}},
		{"wrong type list", head + "packages:\n  install: vim\n",
			[]string{`bad.yaml:6: packages.install: want a list, got "vim"`}},
		{"wrong type bool", "image: {name: g, distribution: gentoo}\nsource:\n  type: gentoo\n  key: keys/g.asc\n  portage: often\n",
			[]string{`bad.yaml:5: source.portage: want true or false, got "often"`}},
		{"wrong type int", head + "reproducible:\n  source_date_epoch: soon\n",
			[]string{`bad.yaml:6: reproducible.source_date_epoch: want an integer, got "soon"`}},
		{"bad size", head + "size: big\n",
			[]string{`bad.yaml:5: size: want a size like 2G or auto, got "big"`}},
		{"size too small", head + "size: 1M\n",
			[]string{`bad.yaml:5: size: 1M is too small for an ext4 root, want at least 16M`}},
		{"headroom with fixed size", head + "size: 2G\nheadroom: 10%\n",
			[]string{`bad.yaml:6: headroom: only applies to size: auto`}},
		{"bad headroom", head + "headroom: 0%\n",
			[]string{`bad.yaml:5: headroom: want a percentage like 20% (1–1000) or a size like 512M, got "0%"`}},
		{"missing name", "image:\n  distribution: debian\n  release: bookworm\n",
			[]string{`bad.yaml:1: image.name: missing: want a name`}},
		{"bad name", "image:\n  name: Big_Name\n  distribution: debian\n  release: bookworm\nhostname: ok\n",
			[]string{`bad.yaml:2: image.name: want a name of lowercase letters, digits, '.', '_' or '-', got "Big_Name"`}},
		{"bad hostname", head + "hostname: -bad-\n",
			[]string{`bad.yaml:5: hostname: want a host name of letters, digits and inner '-' (at most 63), got "-bad-"`}},
		{"hostname from name", "image:\n  name: a_b\n  distribution: debian\n  release: bookworm\n",
			[]string{`bad.yaml: hostname: "a_b" (from image.name) is not a valid host name; set hostname`}},
		{"content and copy", head + "files:\n  - path: /etc/motd\n    content: hi\n    copy: motd\n",
			[]string{`bad.yaml:6: files[0]: want exactly one of content or copy`}},
		{"neither content nor copy", head + "files:\n  - path: /etc/motd\n",
			[]string{`bad.yaml:6: files[0]: want exactly one of content or copy`}},
		{"relative file path", head + "files:\n  - path: etc/motd\n    content: hi\n",
			[]string{`bad.yaml:6: files[0].path: want a clean absolute path like /etc/motd, got "etc/motd"`}},
		{"absolute copy", head + "files:\n  - path: /etc/motd\n    copy: /etc/motd\n",
			[]string{`bad.yaml:7: files[0].copy: want a path relative to the recipe file, got "/etc/motd"`}},
		{"bad mode", head + "files:\n  - path: /etc/motd\n    content: hi\n    mode: rw-r--r--\n",
			[]string{`bad.yaml:8: files[0].mode: want an octal mode like "0644", got "rw-r--r--"`}},
		{"mode too big", head + "files:\n  - path: /etc/motd\n    content: hi\n    mode: 17777\n",
			[]string{`bad.yaml:8: files[0].mode: want an octal mode`}},
		{"bad owner", head + "files:\n  - path: /etc/motd\n    content: hi\n    owner: root\n",
			[]string{`bad.yaml:8: files[0].owner: want user:group, got "root"`}},
		{"type/distribution mismatch", head + "source:\n  type: fedora\n  key: keys/fedora.asc\n",
			[]string{`bad.yaml:6: source.type: "fedora" does not match image.distribution "debian"`}},
		{"unknown source type", head + "source:\n  type: arch\n",
			[]string{`bad.yaml:6: source.type: want debian, ubuntu, fedora or gentoo, got "arch"`}},
		{"source without type", head + "source:\n  suite: sid\n",
			[]string{`bad.yaml:6: source: missing type (debian, ubuntu, fedora or gentoo)`}},
		{"fedora key outside keys", "image: {name: f, distribution: fedora, release: \"40\"}\nsource:\n  type: fedora\n  key: /etc/key.asc\n",
			[]string{`bad.yaml:4: source.key: want a file under keys/ beside the recipe, got "/etc/key.asc"`}},
		{"bad fingerprint", "image: {name: f, distribution: fedora, release: \"40\"}\nsource:\n  type: fedora\n  fingerprints:\n    - B0F4 9504\n",
			[]string{`bad.yaml:5: source.fingerprints[0]: want an OpenPGP key fingerprint (40 or 64 hex digits), got "B0F4 9504"`}},
		{"no fingerprint", "image: {name: g, distribution: gentoo}\nsource:\n  type: gentoo\n",
			[]string{`bad.yaml:2: source.fingerprints: missing: pin the signing keys' fingerprints`}},
		{"bad mirror", head + "source:\n  type: debian\n  mirror: ftp:/x\n",
			[]string{`bad.yaml:7: source.mirror: want an http, https or file URL, got "ftp:/x"`}},
		{"bad architecture", head + "  architecture: x86_64\n",
			[]string{`bad.yaml:5: image.architecture: want one of amd64, `}},
		{"undefined template variable", head + "hostname: \"{{ .nope }}\"\n",
			[]string{`bad.yaml:5: hostname: undefined variable "nope" (define it under variables)`}},
		{"template logic", head + "variables: {a: x}\nhostname: \"{{ range 9999999999 }}{{ .a }}{{ end }}\"\n",
			[]string{`bad.yaml:6: hostname: only {{ .name }} substitution is supported, got {{range 9999999999}}{{.a}}{{end}}`}},
		{"bad template", head + "hostname: \"{{ .a \"\n",
			[]string{`bad.yaml:5: hostname: template 1: unclosed action`}},
		{"bad variable name", head + "variables:\n  my-var: x\n",
			[]string{`bad.yaml:6: variables.my-var: want a variable name`}},
		{"repeated key", head + "hostname: a\nhostname: b\n",
			[]string{`bad.yaml:6: key "hostname" repeated (first at line 5)`}},
		{"alias", head + "hostname: &h a\nconsole:\n  getty: [*h]\n",
			[]string{`bad.yaml:7: console.getty[0]: YAML aliases (*name) are not supported`}},
		{"syntax error", head + "hostname: [a\n", // reported where the list starts
			[]string{`bad.yaml:5: did not find expected ',' or ']'`}},
		{"scanner error", head + "hostname: a: b\n",
			[]string{`bad.yaml:5: mapping values are not allowed in this context`}},
		{"parser error", head + "packages:\n  - a\n  b: c\n",
			[]string{`bad.yaml:6: did not find expected '-' indicator`}}, // where the list starts
		{"two documents", head + "---\nimage: {}\n",
			[]string{`bad.yaml:5: a recipe is one YAML document, found a second`}},
		{"empty", "", []string{`bad.yaml: empty recipe`}},
		{"not a mapping", "- a\n", []string{`bad.yaml:1: want a mapping, got a list`}},
		{"package in install and remove", head + "packages:\n  install: [vim]\n  remove: [vim, -rf]\n",
			[]string{`bad.yaml:7: packages.remove[0]: "vim" is also in packages.install`,
				`bad.yaml:7: packages.remove[1]: want a package name, got "-rf"`}},
		{"root hash and locked", head + "users:\n  root:\n    password_hash: $6$s$h\n    locked: true\n",
			[]string{`bad.yaml:6: users.root: want password_hash or locked: true, not both`}},
		{"bad user", head + "users:\n  extra:\n    - name: root\n    - name: al\n      shell: bash\n      ssh_keys: [AAAA]\n    - name: al\n",
			[]string{`bad.yaml:7: users.extra[0].name: root is configured under users.root`,
				`bad.yaml:9: users.extra[1].shell: want an absolute path like /bin/bash, got "bash"`,
				`bad.yaml:10: users.extra[1].ssh_keys[0]: want one public key line`,
				`bad.yaml:11: users.extra[2].name: "al" repeats users.extra[1]`}},
		{"bad static network", head + "network:\n  dhcp: [eth0]\n  static:\n    - interface: eth0\n      address: 10.0.2.15\n      dns: [x]\n",
			[]string{`bad.yaml:8: network.static[0].interface: "eth0" is also in network.dhcp`,
				`bad.yaml:9: network.static[0].address: want an address with prefix length like 10.0.2.15/24, got "10.0.2.15"`,
				`bad.yaml:10: network.static[0].dns[0]: want an IP address, got "x"`}},
		{"fstab without root", head + "fstab:\n  - {device: /dev/ubdb, mountpoint: /srv, type: ext4}\n",
			[]string{`bad.yaml:5: fstab: want exactly one entry mounting /, found 0`}},
		{"bad getty", head + "console:\n  getty: [/dev/ttyS0, tty0, tty0]\n",
			[]string{`bad.yaml:6: console.getty[0]: want a terminal name like ttyS0 (no /dev/), got "/dev/ttyS0"`,
				`bad.yaml:6: console.getty[2]: "tty0" repeats console.getty[1]`}},
		{"bad script", head + "scripts:\n  - name: a b\n    run: ' '\n",
			[]string{`bad.yaml:6: scripts[0].name: want a name`, `bad.yaml:7: scripts[0].run: want a shell command`}},
		{"negative epoch", head + "reproducible: {source_date_epoch: -1}\n",
			[]string{`bad.yaml:5: reproducible.source_date_epoch: want seconds since 1970, got -1`}},
		{"several at once", "image:\n  name: x\n  distrbution: debian\nsize: huge\n",
			[]string{`bad.yaml:3: unknown key "distrbution" in image`, `bad.yaml:4: size: want a size like 2G`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse([]byte(tc.yaml), "bad.yaml")
			if err == nil {
				t.Fatalf("no error; recipe %+v", r)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error\n%v\ndoes not contain\n%s", err, want)
				}
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("error %v holds no *Error", err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	r, err := Load("testdata/minbase.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Recipe{
		Image: Image{Name: "minbase", Distribution: Debian, Release: "bookworm", Architecture: "amd64"},
		Source: Source{Type: Debian, Debian: &DebianSource{
			Suite: "bookworm", Components: []string{"main"}, Variant: "minbase", Keyring: DefaultDebianKeyring,
		}},
		Users:    Users{Root: Login{Locked: true}},
		Hostname: "minbase",
		Network:  Network{DHCP: []string{"eth0"}},
		Console:  Console{Getty: []string{"tty0", "ttyS0"}},
		Fstab:    []Mount{{Device: cobd.RootDevice, Mountpoint: "/", Type: "ext4", Options: "errors=remount-ro"}},
		Headroom: Headroom{Percent: 20},
	}
	r.File, r.lines, r.copySHA256 = "", nil, nil
	if !reflect.DeepEqual(r, want) {
		t.Errorf("got  %+v\nwant %+v", r, want)
	}
}

func TestDefaultsPerDistribution(t *testing.T) {
	for _, tc := range []struct {
		yaml  string
		check func(*Recipe) bool
	}{
		{"image: {name: f, distribution: fedora, release: \"40\"}\nsource: {type: fedora, key: keys/fedora-40.asc, fingerprints: [B0F4950458F69E1150C6C5EDC8AC4916105EF944]}\n",
			func(r *Recipe) bool {
				return r.Image.Architecture == "x86_64" && r.Source.Fedora.Release == "40" && r.Source.Fedora.Method == "container"
			}},
		{"image: {name: g, distribution: gentoo}\nsource: {type: gentoo, key: keys/gentoo.asc, portage: true, fingerprints: [13EBBDBEDE7A12775DFDB1BABB572E0E2D182910]}\n",
			func(r *Recipe) bool {
				return r.Image.Architecture == "amd64" && r.Source.Gentoo.Flavor == "openrc" && r.Source.Gentoo.Portage
			}},
		{head + "files: [{path: /etc/t, content: '{{ \"{{\" }} .x }}'}]\n", // literal braces
			func(r *Recipe) bool { return *r.Files[0].Content == "{{ .x }}" }},
		{head + "network: {dhcp: []}\nconsole: {getty: []}\n", // explicit empty lists stay empty
			func(r *Recipe) bool { return len(r.Network.DHCP) == 0 && len(r.Console.Getty) == 0 }},
		{head + "network:\n  static: [{interface: eth0, address: 10.0.2.15/24, gateway: 10.0.2.2}]\n",
			func(r *Recipe) bool { return r.Network.DHCP == nil }},
		{head + "size: 2G\nfiles: [{path: /etc/machine-id, content: \"\", mode: 0444}]\nusers: {extra: [{name: al}]}\n",
			func(r *Recipe) bool {
				f, u := r.Files[0], r.Users.Extra[0]
				return r.Size.Bytes == 2<<30 && r.Headroom == (Headroom{}) &&
					*f.Content == "" && *f.Mode == 0o444 && f.Owner == "root:root" &&
					u.Shell == "/bin/bash" && u.Locked
			}},
	} {
		r, err := Parse([]byte(tc.yaml), "good.yaml")
		if err != nil {
			t.Errorf("%s: %v", tc.yaml, err)
			continue
		}
		if !tc.check(r) {
			t.Errorf("%s: wrong defaults: %+v", tc.yaml, r)
		}
	}
}

// full uses every key of the schema, so every field type is decoded.
const full = `image:
  name: full
  distribution: debian
  release: "{{ .rel }}"
  architecture: arm64
  description: everything
source:
  type: debian
  mirror: http://mirror.invalid/debian
  suite: "{{ .rel }}"
  components: [main, contrib]
  variant: standard
  keyring: keys/debian.gpg
packages: {install: [vim], remove: [nano]}
files:
  - {path: /etc/motd, content: "hello from {{ .rel }}\n", mode: "0600", owner: "0:0"}
  - {path: /etc/issue, copy: issue.txt}
users:
  root: {locked: true}
  extra:
    - name: al
      groups: [sudo, adm]
      shell: /bin/sh
      ssh_keys: ["ssh-ed25519 AAAA al@host"]
      password_hash: "$y$j9T$salt$hash"
hostname: full-host
network:
  dhcp: [eth0]
  static: [{interface: eth1, address: "fd00::2/64", gateway: "fd00::1", dns: [9.9.9.9]}]
console: {getty: [ttyS0]}
fstab:
  - {device: /dev/ubda, mountpoint: /, type: ext4}
  - {device: /dev/ubdb, mountpoint: none, type: swap, options: sw}
scripts: [{name: hello, run: "echo hi"}]
size: auto
headroom: 512M
variables: {rel: trixie}
reproducible: {source_date_epoch: 1700000000}
`

func TestFullRoundTrip(t *testing.T) {
	r, err := Parse([]byte(full), "full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := *r.Files[0].Content; got != "hello from trixie\n" {
		t.Errorf("templated content = %q", got)
	}
	if r.Headroom.Bytes != 512<<20 || *r.Reproducible.SourceDateEpoch != 1700000000 {
		t.Errorf("headroom %v, epoch %v", r.Headroom, *r.Reproducible.SourceDateEpoch)
	}
	// The canonical form is itself a recipe, with the same hash.
	canon, err := yaml.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(canon, "canon.yaml")
	if err != nil {
		t.Fatalf("canonical form does not parse: %v\n%s", err, canon)
	}
	if again.Hash() != r.Hash() {
		t.Errorf("canonical form hashes differently:\n%s", canon)
	}
}

func TestDebianRecipe(t *testing.T) {
	r, err := Load("../../recipes/debian.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if r.Source.Debian.Suite != "trixie" || r.Source.Debian.Variant != "minbase" || r.Hostname != "colinux" {
		t.Errorf("unexpected recipe: %+v", r.Source.Debian)
	}
	old, err := Load("../../recipes/debian-12.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if old.Source.Debian.Suite != "bookworm" || old.Image.Name != "debian-12" {
		t.Errorf("debian-12.yaml: %+v %+v", old.Image, old.Source.Debian)
	}
	if r.Users.Root.Locked || r.Users.Root.PasswordHash == "" {
		t.Error("root should have the documented demo password")
	}
	if !reflect.DeepEqual(r.Console.Getty, []string{ConsoleTTY, SerialTTY}) {
		t.Errorf("getty on %v", r.Console.Getty)
	}
	if len(r.Fstab) != 1 || r.Fstab[0].Device != cobd.RootDevice {
		t.Errorf("fstab %+v", r.Fstab)
	}
}

func TestHash(t *testing.T) {
	hash := func(src string) string {
		t.Helper()
		r, err := Parse([]byte(src), "h.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return r.Hash()
	}
	base := hash(head + "hostname: h\nsize: 2G\n")
	same := map[string]string{
		"reordered keys":          "size: 2G\nhostname: h\nimage:\n  release: bookworm\n  distribution: debian\n  name: test\n",
		"comments and flow style": "# c\nimage: {name: test, distribution: debian, release: bookworm}\nhostname: 'h'\nsize: 2048M\n",
		"defaults spelled out":    head + "hostname: h\nsize: 2G\nsource: {type: debian, suite: bookworm, variant: minbase}\nnetwork: {dhcp: [eth0]}\n",
	}
	for name, src := range same {
		if got := hash(src); got != base {
			t.Errorf("%s: hash changed", name)
		}
	}
	for name, src := range map[string]string{
		"hostname": head + "hostname: i\nsize: 2G\n",
		"size":     head + "hostname: h\nsize: 3G\n",
		"package":  head + "hostname: h\nsize: 2G\npackages: {install: [vim]}\n",
	} {
		if hash(src) == base {
			t.Errorf("%s: hash unchanged", name)
		}
	}
}

func TestLoadCopies(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "r.yaml")
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("r.yaml", head+"files:\n  - path: /etc/issue\n    copy: issue.txt\n")
	if _, err := Load(rec); err == nil || !strings.Contains(err.Error(), "r.yaml:7: files[0].copy: open ") {
		t.Fatalf("missing copy source: got %v", err)
	}
	write("issue.txt", "one")
	r1, err := Load(rec)
	if err != nil {
		t.Fatal(err)
	}
	write("issue.txt", "two")
	r2, err := Load(rec)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Hash() == r2.Hash() {
		t.Error("hash ignores the content of copy sources")
	}
	if got := r1.HostPath("issue.txt"); got != filepath.Join(dir, "issue.txt") {
		t.Errorf("HostPath = %q", got)
	}
}
