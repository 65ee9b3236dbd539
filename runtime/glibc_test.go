package runtime

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/driver/uml/umltest"
	"github.com/colinux-ng/colinux/internal/testutil"
	"github.com/colinux-ng/colinux/pkg/archive"
)

// fakeGlibc builds a libc.so.6 defining GLIBC_2.2.5 … GLIBC_<newest>
// and GLIBC_PRIVATE, and a program needing GLIBC_<newest> from it: what a
// newer suite's glibc and UML kernel look like to the ELF reader.
func fakeGlibc(t *testing.T, newest string) (libc, prog string) {
	t.Helper()
	return stubLibc(t, "void old_call(void) {}\nvoid new_call(void) {}\n",
		"GLIBC_2.2.5 { global: old_call; local: *; };\nGLIBC_"+newest+" { global: new_call; } GLIBC_2.2.5;\nGLIBC_PRIVATE { };\n",
		"extern void old_call(void);\nextern void new_call(void);\nvoid _start(void) { old_call(); new_call(); }\n")
}

// stubLibc builds with the host's C compiler, in a new directory, a
// libc.so.6 from libcSrc whose symbols get the versions versionScript
// gives, and a program (linux.uml) from progSrc linked against it, with
// ldflags.
func stubLibc(t testing.TB, libcSrc, versionScript, progSrc string, ldflags ...string) (libc, prog string) {
	t.Helper()
	cc := testutil.RequireTool(t, "gcc")
	dir := t.TempDir()
	for name, text := range map[string]string{"libc.c": libcSrc, "libc.map": versionScript, "prog.c": progSrc} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"-shared", "-fPIC", "-nostdlib", "-Wl,-soname,libc.so.6", "-Wl,--version-script=libc.map", "-o", "libc.so.6", "libc.c"},
		append(append([]string{"-nostdlib"}, ldflags...), "-o", "linux.uml", "prog.c", "libc.so.6"),
	} {
		cmd := exec.Command(cc, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gcc %v: %v\n%s", args, err, out)
		}
	}
	return filepath.Join(dir, "libc.so.6"), filepath.Join(dir, "linux.uml")
}

func TestGlibcVersions(t *testing.T) {
	t.Parallel()
	libc, prog := fakeGlibc(t, "2.41")
	if v, err := GlibcVersion(libc); err != nil || v != "2.41" {
		t.Errorf("GlibcVersion(fake 2.41 libc) = %q, %v", v, err)
	}
	if v, err := GlibcNeeded(prog); err != nil || v != "2.41" {
		t.Errorf("GlibcNeeded(program linked to it) = %q, %v", v, err)
	}
	for host, want := range map[string]bool{"2.36": false, "2.40": false, "2.41": true, "2.43": true, "2.100": true, "": true} {
		if got := hostCanRun(prog, host); got != want {
			t.Errorf("hostCanRun(needs 2.41, host glibc %q) = %v, want %v", host, got, want)
		}
	}
	// A program, not a libc: it defines no GLIBC versions.
	if v, err := GlibcVersion(prog); err == nil {
		t.Errorf("GlibcVersion(a program) = %q, want an error", v)
	}
	if v, err := GlibcVersion(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Errorf("GlibcVersion(missing) = %q, want an error", v)
	}
	notELF := filepath.Join(t.TempDir(), "libc.so.6")
	os.WriteFile(notELF, []byte("GLIBC_2.99\n"), 0o644)
	if v, err := GlibcVersion(notELF); err == nil {
		t.Errorf("GlibcVersion(text) = %q, want an error", v)
	}
}

// The host's glibc as glibc itself reports it (getconf asks
// confstr(_CS_GNU_LIBC_VERSION)), and what its programs need is at most
// that.
func TestHostGlibc(t *testing.T) {
	t.Parallel()
	getconf := testutil.RequireTool(t, "getconf")
	out, err := exec.Command(getconf, "GNU_LIBC_VERSION").Output()
	if err != nil {
		t.Skipf("not a glibc host: getconf GNU_LIBC_VERSION: %v", err)
	}
	want := strings.TrimPrefix(strings.TrimSpace(string(out)), "glibc ")
	got, err := HostGlibc()
	if err != nil || got != want {
		t.Fatalf("HostGlibc = %q, %v; getconf says %q", got, err, want)
	}
	sh, _ := exec.LookPath("sh")
	if need, err := GlibcNeeded(sh); err != nil || need == "" || !hostCanRun(sh, got) {
		t.Errorf("GlibcNeeded(%s) = %q, %v; the host (glibc %s) runs it", sh, need, err, got)
	}
}

func TestUMLSuites(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		glibc, host string
		want        []string
	}{
		{"2.36", "bookworm", []string{"unstable", "testing", "bookworm"}}, // sid's 7.2, relinked
		{"", "bookworm", []string{"bookworm"}},                            // unknown: stay
		{"2.38", "stable", []string{"unstable", "testing", "stable"}},
		{"2.41", "trixie", []string{"unstable", "testing", "trixie"}},
		{"2.43", "testing", []string{"unstable", "testing"}},
	} {
		if got := umlSuites(c.glibc, c.host); !slices.Equal(got, c.want) {
			t.Errorf("umlSuites(%q, %q) = %v, want %v", c.glibc, c.host, got, c.want)
		}
	}
}

func TestRunsOn(t *testing.T) {
	t.Parallel()
	sid := &archive.Package{Name: Package, Depends: "libc6 (>= 2.38), libgcc-s1 (>= 3.0)"}
	bookworm := &archive.Package{Name: Package, Depends: "libc6 (>= 2.34)"}
	none := &archive.Package{Name: Package}
	later := &archive.Package{Name: Package, Depends: "libc6 (>= 2.40)"}
	for _, c := range []struct {
		pkg   *archive.Package
		glibc string
		want  bool
	}{
		{sid, "2.36", true}, {sid, "2.38", true}, {sid, "2.41", true}, {sid, "", true}, // 2.36: relinked
		{bookworm, "2.36", true}, {none, "2.36", true},
		{later, "2.36", false}, {later, "2.39", false}, {later, "2.40", true},
	} {
		if got := runsOn(c.pkg, c.glibc); got != c.want {
			t.Errorf("runsOn(%q, glibc %q) = %v, want %v", c.pkg.Depends, c.glibc, got, c.want)
		}
	}
}

// umlTraits finds the seccomp= boot option and the re-exec message
// wherever they lie, also across the reader's chunks, and not in a
// kernel without them.
func TestUMLTraits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, at := range []int{0, 1<<20 - 5, 1 << 20, 3<<20 + 7} {
		p := filepath.Join(dir, "k"+strconv.Itoa(at))
		data := make([]byte, 4<<20)
		copy(data[at:], seccompOption)
		copy(data[(at+(2<<20))%(4<<20-32):], reexecMessage)
		os.WriteFile(p, data, 0o755)
		if m, nr := umlTraits(p); m != Seccomp || !nr {
			t.Errorf("option at %d: mode %s, no-randomize %v", at, m, nr)
		}
	}
	p := filepath.Join(dir, "help-only")
	os.WriteFile(p, []byte("op=seccomp-logging\x00seccomp=<on/auto/off>\x00readlink failure: %s\x00"), 0o755)
	if m, nr := umlTraits(p); m != Ptrace || nr {
		t.Errorf("neither: mode %s, no-randomize %v", m, nr)
	}
	if k, err := (Cache{Dir: t.TempDir()}).Override(UML, "/usr/bin/linux.uml"); err == nil {
		if want := umltest.Mode(k.Release); k.Mode != want || k.NoRandomize != (want == Seccomp) {
			t.Errorf("installed kernel %s: mode %s, no-randomize %v; want %s", k.Release, k.Mode, k.NoRandomize, want)
		}
	}
}
