package runtime

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	goruntime "runtime"
	"strings"
	"testing"
)

// c23Program builds a program that exits with __isoc23_strtoul("42")
// bound to GLIBC_2.38, as a kernel built against glibc 2.38 calls it, and
// exit bound to GLIBC_2.2.5. It links against a stub libc.so.6 defining
// those versions; at run time the host's C library serves it. extra adds
// a further 2.38 function.
func c23Program(t testing.TB, extra string) string {
	t.Helper()
	if goruntime.GOARCH != "amd64" {
		t.Skip("the stub's base version, GLIBC_2.2.5, is x86-64's")
	}
	_, prog := stubLibc(t,
		"void exit(int c) {}\nunsigned long strtoul(void) { return 0; }\nunsigned long __isoc23_strtoul(void) { return 0; }\nvoid "+extra+"(void) {}\n",
		"GLIBC_2.2.5 { global: exit; strtoul; local: *; };\nGLIBC_2.38 { global: __isoc23_strtoul; "+extra+"; } GLIBC_2.2.5;\n",
		`extern unsigned long __isoc23_strtoul(const char *, char **, int);
extern void exit(int);
extern void `+extra+`(void);
static volatile int never;
__attribute__((force_align_arg_pointer)) void _start(void) {
	if (never) `+extra+`();
	exit((int)__isoc23_strtoul("42", 0, 10));
}
`, "-no-pie")
	return prog
}

// exitCode runs prog and returns its exit status, or -1 and its output
// when the loader refused it.
func exitCode(t *testing.T, prog string) (int, string) {
	out, err := exec.Command(prog).CombinedOutput()
	var ee *exec.ExitError
	if err == nil {
		return 0, string(out)
	}
	if !errors.As(err, &ee) {
		t.Fatal(err)
	}
	if len(out) > 0 {
		return -1, string(out)
	}
	return ee.ExitCode(), ""
}

// TestRelinkC23: a program needing glibc 2.38 for a C23 function only
// runs on the host's glibc after relinkC23, and calls the C function.
func TestRelinkC23(t *testing.T) {
	t.Parallel()
	libc, glibc, err := hostLibc()
	if err != nil {
		t.Skip(err)
	}
	prog := c23Program(t, "__isoc23_strtol")
	if glibcAtLeast(glibc, "2.38") {
		t.Logf("glibc %s runs it as it is", glibc)
	} else if code, out := exitCode(t, prog); code != -1 || !strings.Contains(out, "GLIBC_2.38") {
		t.Fatalf("before: exit %d %q, want the loader to ask for GLIBC_2.38", code, out)
	}
	// As if the host had 2.36 whatever it has: the C functions are old.
	changed, err := relinkC23(prog, libc, "2.36")
	if err != nil || !changed {
		t.Fatalf("relinkC23 = %v, %v", changed, err)
	}
	if need, err := GlibcNeeded(prog); err != nil || need != "2.2.5" {
		t.Errorf("after: GlibcNeeded = %q, %v; want 2.2.5", need, err)
	}
	if code, out := exitCode(t, prog); code != 42 {
		t.Errorf("after: exit %d %q, want 42 from strtoul(\"42\")", code, out)
	}
	if changed, err := relinkC23(prog, libc, "2.36"); changed || err != nil {
		t.Errorf("again: relinkC23 = %v, %v; want nothing to do", changed, err)
	}
}

// TestRelinkC23Refuses: a 2.38 function with no C17 twin is named, and
// the program is left as it was.
func TestRelinkC23Refuses(t *testing.T) {
	t.Parallel()
	libc, _, err := hostLibc()
	if err != nil {
		t.Skip(err)
	}
	prog := c23Program(t, "memfd_secret_new")
	before, _ := os.ReadFile(prog)
	_, err = relinkC23(prog, libc, "2.36")
	if err == nil || !strings.Contains(err.Error(), "memfd_secret_new@GLIBC_2.38") {
		t.Errorf("relinkC23 = %v, want an error naming memfd_secret_new@GLIBC_2.38", err)
	}
	if after, _ := os.ReadFile(prog); string(after) != string(before) {
		t.Error("the program changed")
	}
}

// FuzzRelinkC23: any file, relinked or not, gives an answer, not a panic.
// The seed is a program relinkC23 changes.
func FuzzRelinkC23(f *testing.F) {
	libc, _, err := hostLibc()
	if err != nil {
		f.Skip(err)
	}
	c17, err := defaultVersions(libc)
	if err != nil {
		f.Fatal(err)
	}
	if seed, err := os.ReadFile(c23Program(f, "__isoc23_strtol")); err == nil {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// relinkELF changes its bytes; the fuzzer's input stays as it was
		relinkELF(bytes.Clone(data), "2.36", func() (map[string]string, error) { return c17, nil })
	})
}
