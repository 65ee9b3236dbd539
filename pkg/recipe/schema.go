// Package recipe reads the YAML recipes from which coimage builds root
// filesystem images: one schema for Debian, Fedora and Gentoo, with
// defaults, {{ .variable }} templating and validation whose errors name the
// recipe file and line.
//
// The yaml tags below are the recipe's keys. Parse accepts exactly these
// keys; yaml.Marshal of a Recipe gives its canonical form (see Hash).
package recipe

// Recipe is one image recipe. After Parse or Load every default is filled
// in, so consumers never need to guess what an empty field means.
type Recipe struct {
	Image        Image             `yaml:"image"`
	Source       Source            `yaml:"source"`
	Packages     Packages          `yaml:"packages"`
	Files        []File            `yaml:"files"`
	Users        Users             `yaml:"users"`
	Hostname     string            `yaml:"hostname"`
	Network      Network           `yaml:"network"`
	Console      Console           `yaml:"console"`
	Fstab        []Mount           `yaml:"fstab"`
	Scripts      []Script          `yaml:"scripts"`
	Size         Size              `yaml:"size"`
	Headroom     Headroom          `yaml:"headroom"`
	Variables    map[string]string `yaml:"variables"`
	Reproducible Reproducible      `yaml:"reproducible"`

	// File is the recipe's name as given to Parse (the path for Load):
	// errors start with it and relative host paths resolve against its
	// directory.
	File string `yaml:"-"`

	lines      map[string]int // key path ("files[2].mode") → line, for errors
	copySHA256 []string       // per Files entry: digest of the copy source, set by Load
}

// Image names and describes the built image.
type Image struct {
	Name         string `yaml:"name"`
	Distribution string `yaml:"distribution"`
	Release      string `yaml:"release"`
	Architecture string `yaml:"architecture"`
	Description  string `yaml:"description"`
}

// Distributions coimage can build.
const (
	Debian = "debian"
	Ubuntu = "ubuntu" // a DebianSource: Ubuntu's archive has Debian's layout
	Fedora = "fedora"
	Gentoo = "gentoo"
)

// Source says where the base system comes from. Type equals
// Image.Distribution and exactly the matching pointer is set; in YAML the
// per-distribution fields sit beside type:
//
//	source: {type: debian, suite: bookworm, variant: minbase}
type Source struct {
	Type   string        `yaml:"type"`
	Debian *DebianSource `yaml:",inline"`
	Fedora *FedoraSource `yaml:",inline"`
	Gentoo *GentooSource `yaml:",inline"`
}

// DefaultDebianKeyring is the host keyring (package debian-archive-keyring)
// that verifies the archive's InRelease when a recipe names none.
const DefaultDebianKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// DefaultUbuntuKeyring is where an Ubuntu recipe may put Ubuntu's archive
// keyring by hand (relative to the recipe); without the file, the keyring
// comes from Debian's ubuntu-keyring package, checked against Fingerprints.
const DefaultUbuntuKeyring = "keys/ubuntu-archive-keyring.gpg"

// DebianSource bootstraps from a Debian archive, or Ubuntu's. An empty
// Mirror means the host's apt sources (Ubuntu: its official archive), or
// a command-line override, decide.
type DebianSource struct {
	Mirror     string   `yaml:"mirror"`
	Suite      string   `yaml:"suite"`
	Components []string `yaml:"components"`
	Variant    string   `yaml:"variant"` // minbase, important or standard
	Keyring    string   `yaml:"keyring"`
	// Fingerprints pin the archive keys (Ubuntu: taken from Debian's
	// ubuntu-keyring package); empty means the source's defaults.
	Fingerprints []string `yaml:"fingerprints,omitempty"`
}

// FedoraSource bootstraps Fedora from its container base image or its
// package repositories. Its signing key comes from Debian's
// distribution-gpg-keys package, or from Key (a file under keys/ beside
// the recipe) when that exists; either way it must be one of
// Fingerprints.
type FedoraSource struct {
	Mirror       string   `yaml:"mirror"`
	Release      string   `yaml:"release"`
	Method       string   `yaml:"method"` // container or repo
	Key          string   `yaml:"key"`
	Fingerprints []string `yaml:"fingerprints"`
}

// GentooSource unpacks a stage3 tarball of the given flavor (its init
// system, e.g. openrc or systemd). Its signing keys (release engineering's
// and the snapshot's) come from Gentoo's key server, or from Key when
// that file exists; either way they must be Fingerprints.
type GentooSource struct {
	Mirror       string   `yaml:"mirror"`
	Flavor       string   `yaml:"flavor"`
	Key          string   `yaml:"key"`
	KeyServer    string   `yaml:"key_server"` // HKP base URL
	Fingerprints []string `yaml:"fingerprints"`
	Portage      bool     `yaml:"portage"` // also unpack a portage snapshot
	Binpkgs      bool     `yaml:"binpkgs"` // prefer the binary package host
}

// Packages to add to and remove from the base system.
type Packages struct {
	Install []string `yaml:"install"`
	Remove  []string `yaml:"remove"`
}

// File is written into the image: its text is Content, or the host file
// Copy (relative to the recipe file). Content is a pointer because an
// empty file (say /etc/machine-id) differs from no content at all.
type File struct {
	Path    string  `yaml:"path"`
	Content *string `yaml:"content"`
	Copy    string  `yaml:"copy"`
	Mode    *Mode   `yaml:"mode"`
	Owner   string  `yaml:"owner"` // user:group, names or numbers
}

// Users configures root and extra accounts.
type Users struct {
	Root  Login  `yaml:"root"`
	Extra []User `yaml:"extra"`
}

// Login is how an account's password works: a crypt(3) hash, or locked
// (no password login at all).
type Login struct {
	PasswordHash string `yaml:"password_hash"`
	Locked       bool   `yaml:"locked"`
}

// User is an extra account.
type User struct {
	Name    string   `yaml:"name"`
	Groups  []string `yaml:"groups"`
	Shell   string   `yaml:"shell"`
	SSHKeys []string `yaml:"ssh_keys"`
	Login   `yaml:",inline"`
}

// Network configures interfaces: DHCP on the listed ones and fixed
// addresses on the others. An explicit empty dhcp list with no static
// entries means the recipe configures networking itself (through files).
type Network struct {
	DHCP   []string `yaml:"dhcp"`
	Static []Static `yaml:"static"`
}

// Static is a fixed address on one interface.
type Static struct {
	Interface string   `yaml:"interface"`
	Address   string   `yaml:"address"` // CIDR, e.g. 10.0.2.15/24
	Gateway   string   `yaml:"gateway"`
	DNS       []string `yaml:"dns"`
}

// Default console devices. Under User-mode Linux con0 is the guest's tty0
// (corun's terminal) and ssl0 is its ttyS0.
const (
	ConsoleTTY = "tty0"
	SerialTTY  = "ttyS0"
)

// Console lists the terminals that get a login prompt.
type Console struct {
	Getty []string `yaml:"getty"`
}

// Mount is one fstab line.
type Mount struct {
	Device     string `yaml:"device"`
	Mountpoint string `yaml:"mountpoint"`
	Type       string `yaml:"type"`
	Options    string `yaml:"options"`
}

// Script runs with /bin/sh inside the target after packages and files are
// in place, in recipe order.
type Script struct {
	Name string `yaml:"name"`
	Run  string `yaml:"run"`
}

// Reproducible pins what would otherwise vary between builds.
type Reproducible struct {
	// SourceDateEpoch clamps file times (as SOURCE_DATE_EPOCH does);
	// nil leaves the choice to the builder.
	SourceDateEpoch *int64 `yaml:"source_date_epoch"`
}
