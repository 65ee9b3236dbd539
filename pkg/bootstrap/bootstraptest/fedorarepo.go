package bootstraptest

import (
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/pkg/pgpverify/pgptest"
	"github.com/colinux-ng/colinux/pkg/rpm/rpmtest"
)

// FedoraRepo is a Fedora-like pair of repositories written by
// WriteFedoraRepo; paths are relative to the mirror's base.
type FedoraRepo struct {
	Release, Updates rpmtest.Repo
	ReleaseDir       string // releases/<N>/Everything/x86_64/os/
	UpdatesDir       string // updates/<N>/Everything/x86_64/
}

// WriteFedoraRepo writes the release and updates repositories of a Fedora
// release below dir, signed by key. The release holds the base the repo
// method installs, made of root's entries: filesystem (the directories),
// setup (the account files), bash (busybox and its applets, providing
// /bin/sh), rpm and dnf (the root's recorders of that name) and
// fedora-release (etc/os-release); plus a tiny package for each of
// extra, each requiring the next. The updates hold a newer systemd, which
// systemd-networkd requires when both are among extra. adjust, when set,
// may change the release's specs before they are written.
func WriteFedoraRepo(t testing.TB, dir string, key *pgptest.Key, release string, root []Entry, extra []string, adjust func(map[string]*rpmtest.Spec)) FedoraRepo {
	t.Helper()
	parts := map[string][]rpmtest.File{}
	for _, e := range root {
		f := rpmtest.File{Path: "/" + e.Name, Body: e.Body, Link: e.Link, Mode: uint32(e.Mode)}
		var owner string
		switch {
		case strings.HasSuffix(e.Name, "/"):
			owner = "filesystem"
		case strings.HasPrefix(e.Name, "etc/passwd") || strings.HasPrefix(e.Name, "etc/group") || strings.HasPrefix(e.Name, "etc/shadow"):
			owner = "setup"
		case e.Name == "etc/os-release":
			owner = "fedora-release"
		case strings.HasSuffix(e.Name, "/rpm"):
			owner = "rpm"
		case strings.HasSuffix(e.Name, "/dnf"):
			owner = "dnf"
		default:
			owner = "bash"
		}
		parts[owner] = append(parts[owner], f)
	}
	spec := func(name, version string, requires []string, provides ...string) rpmtest.Spec {
		return rpmtest.Spec{Name: name, Version: version, Release: "1.fc" + release, Arch: "x86_64",
			BuildTime: Stamp.Unix(), Requires: requires, Provides: provides, Files: parts[name]}
	}
	specs := []rpmtest.Spec{
		spec("filesystem", "3.18", []string{"setup"}),
		spec("setup", "2.15", nil),
		spec("bash", "5.2", []string{"filesystem"}, "/bin/sh"),
		spec("rpm", "4.20", []string{"/bin/sh", "(rpm-sequoia if fedora-release)"}),
		spec("rpm-sequoia", "1.7", nil),
		spec("dnf", "5.2", []string{"rpm >= 4.19"}),
		spec("fedora-release", release, []string{"filesystem"}),
		spec("unused", "1", []string{"nothing-provides-this"}),
	}
	var updates []rpmtest.Spec
	for i, name := range extra {
		var req []string
		if i+1 < len(extra) {
			req = []string{extra[i+1]}
		}
		s := spec(name, "1", req)
		s.Files = []rpmtest.File{{Path: "/usr/share/fixture/" + name, Body: name + "\n"}}
		if name == "systemd-networkd" {
			s.Requires = append(s.Requires, "systemd >= 257")
		}
		if name == "systemd" {
			updates = append(updates, func() rpmtest.Spec { u := s; u.Version = "257"; return u }())
			s.Version = "256"
		}
		specs = append(specs, s)
	}
	if adjust != nil {
		byName := map[string]*rpmtest.Spec{}
		for i := range specs {
			byName[specs[i].Name] = &specs[i]
		}
		adjust(byName)
	}
	f := FedoraRepo{
		ReleaseDir: "releases/" + release + "/Everything/x86_64/os/",
		UpdatesDir: "updates/" + release + "/Everything/x86_64/",
	}
	f.Release = rpmtest.WriteRepo(t, dir+"/"+f.ReleaseDir, key, specs...)
	f.Updates = rpmtest.WriteRepo(t, dir+"/"+f.UpdatesDir, key, updates...)
	return f
}
