package bootstrap

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/colinux-ng/colinux/pkg/archive"
)

// dpkgDir is dpkg's database inside the target.
const dpkgDir = "var/lib/dpkg"

// unpacked is a package whose files Go extracted, recorded so that dpkg
// sees it as dpkg itself would after "dpkg --unpack": status "install ok
// unpacked", file list, maintainer scripts, conffiles waiting as
// .dpkg-new, trigger interests registered.
type unpacked struct {
	pkg       *archive.Package
	control   *archive.Control
	files     []string // as dpkg lists them: "/.", "/usr", "/usr/bin/sh", ...
	conffiles []string // shipped conffiles, absolute paths
}

// infoName is the package's prefix in dpkg's info directory: dpkg adds
// the architecture for Multi-Arch: same packages, which may be
// co-installed for several.
func (u *unpacked) infoName() string {
	if u.pkg.MultiArch == "same" {
		return u.pkg.Name + ":" + u.pkg.Architecture
	}
	return u.pkg.Name
}

// maintScripts are the control members dpkg runs, kept executable.
var maintScripts = map[string]bool{"preinst": true, "postinst": true, "prerm": true, "postrm": true, "config": true}

// parseConffiles reads a conffiles member: one absolute path per line,
// optionally after flags; "remove-on-upgrade" entries are not shipped.
func parseConffiles(data []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] == "remove-on-upgrade" {
			continue
		}
		out = append(out, f[len(f)-1])
	}
	return out
}

// stageConffiles renames each extracted conffile to NAME.dpkg-new, where
// "dpkg --configure" expects a new conffile and installs it (there is no
// old one to merge with).
// The names come from the package: the renames go through an os.Root so
// that "../" or a symlinked directory cannot reach outside the target.
func (u *unpacked) stageConffiles(target string) error {
	if len(u.conffiles) == 0 {
		return nil
	}
	root, err := os.OpenRoot(target)
	if err != nil {
		return fmt.Errorf("package %s: %w", u.pkg, err)
	}
	defer root.Close()
	for _, c := range u.conffiles {
		p := strings.TrimPrefix(c, "/")
		if _, err := root.Lstat(p); err != nil {
			return fmt.Errorf("package %s: conffile %s not in its data: %w", u.pkg, c, err)
		}
		if err := root.Rename(p, p+".dpkg-new"); err != nil {
			return fmt.Errorf("package %s: conffile %s: %w", u.pkg, c, err)
		}
	}
	return nil
}

// statusEntry is the package's paragraph in dpkg's status file: its
// control file with the unpacked state and the new conffiles.
func (u *unpacked) statusEntry() []byte {
	var b bytes.Buffer
	lines := strings.SplitAfter(strings.TrimRight(string(u.control.Raw), "\n")+"\n", "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "Status:") {
			continue // a control file never has one; never trust it to
		}
		b.WriteString(l)
		if strings.HasPrefix(l, "Package:") {
			b.WriteString("Status: install ok unpacked\n")
		}
	}
	if len(u.conffiles) > 0 {
		b.WriteString("Conffiles:\n")
		for _, c := range u.conffiles {
			b.WriteString(" " + c + " newconffile\n")
		}
	}
	b.WriteString("\n")
	return b.Bytes()
}

// writeDpkgDB writes the database for pkgs (sorted by name) into target.
func writeDpkgDB(target string, pkgs []*unpacked) error {
	db := filepath.Join(target, dpkgDir)
	for _, d := range []string{"info", "triggers", "updates", "alternatives", "parts"} {
		if err := os.MkdirAll(filepath.Join(db, d), 0o755); err != nil {
			return err
		}
	}
	var status bytes.Buffer
	trig := triggerInterests{}
	for _, u := range pkgs {
		status.Write(u.statusEntry())
		if err := u.writeInfo(filepath.Join(db, "info")); err != nil {
			return err
		}
		trig.add(u)
	}
	if err := trig.write(filepath.Join(db, "triggers")); err != nil {
		return err
	}
	for name, data := range map[string][]byte{"status": status.Bytes(), "available": nil, "diversions": nil, "statoverride": nil} {
		if err := os.WriteFile(filepath.Join(db, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writeInfo writes NAME.list and every control member but control itself.
func (u *unpacked) writeInfo(info string) error {
	prefix := filepath.Join(info, u.infoName()) + "."
	list := strings.Join(u.files, "\n") + "\n"
	if err := os.WriteFile(prefix+"list", []byte(list), 0o644); err != nil {
		return err
	}
	for name, data := range u.control.Files {
		mode := os.FileMode(0o644)
		if maintScripts[name] {
			mode = 0o755
		}
		if err := os.WriteFile(prefix+name, data, mode); err != nil {
			return err
		}
	}
	return nil
}

// triggerInterests collects the "interest" lines of the packages' triggers
// files, as dpkg records them on unpack: file triggers in triggers/File,
// each explicit trigger in triggers/NAME.
type triggerInterests map[string][]string // trigger → "pkg[/noawait]"

func (t triggerInterests) add(u *unpacked) {
	sc := bufio.NewScanner(bytes.NewReader(u.control.Files["triggers"]))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || !strings.HasPrefix(f[0], "interest") {
			continue // activations happen when dpkg itself unpacks
		}
		who := u.infoName()
		if f[0] == "interest-noawait" {
			who += "/noawait"
		}
		t[f[1]] = append(t[f[1]], who)
	}
}

func (t triggerInterests) write(dir string) error {
	var files []string
	for name, who := range t {
		sort.Strings(who)
		if strings.HasPrefix(name, "/") {
			for _, w := range who {
				files = append(files, name+" "+w)
			}
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.Join(who, "\n")+"\n"), 0o644); err != nil {
			return err
		}
	}
	if len(files) == 0 {
		return nil
	}
	sort.Strings(files)
	return os.WriteFile(filepath.Join(dir, "File"), []byte(strings.Join(files, "\n")+"\n"), 0o644)
}

// notInstalled parses a dpkg status file and returns the packages whose
// status is not "install ok installed", with their status.
func notInstalled(status []byte) []string {
	var bad []string
	for _, para := range bytes.Split(status, []byte("\n\n")) {
		var name, state string
		for _, l := range strings.Split(string(para), "\n") {
			if v, ok := strings.CutPrefix(l, "Package: "); ok {
				name = v
			} else if v, ok := strings.CutPrefix(l, "Status: "); ok {
				state = v
			}
		}
		if name != "" && state != "install ok installed" && !strings.HasSuffix(state, "not-installed") {
			bad = append(bad, name+" ("+state+")")
		}
	}
	return bad
}
