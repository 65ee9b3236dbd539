package initramfs

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/colinux-ng/colinux/internal/testutil"
	"github.com/colinux-ng/colinux/runtime/coinit"
	"github.com/colinux-ng/colinux/runtime/kmod"
)

// TestArchiveUnpacks has busybox's cpio, an independent reader of the
// newc format, list and extract the cached archive.
func TestArchiveUnpacks(t *testing.T) {
	busybox := testutil.RequireTool(t, "busybox")
	cache := t.TempDir()
	path, err := Cached(cache)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(busybox, "cpio", "-i", "-d", "-v", "-F", path)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("busybox cpio: %v\n%s", err, out)
	}
	for _, name := range []string{"dev", "proc", "sys", "newroot", "dev/console", "init"} {
		if !bytes.Contains(out, []byte(name+"\n")) {
			t.Errorf("archive lacks %s; cpio listed:\n%s", name, out)
		}
	}
	want, err := Coinit()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "init"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("extracted init differs from the embedded coinit (%v)", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "init")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("init mode: %v, %v", fi.Mode(), err)
	}
	again, err := Cached(cache)
	if err != nil || again != path {
		t.Fatalf("second Cached = %s, %v; want %s", again, err, path)
	}
}

// TestCoinitStatic: the embedded coinit needs no interpreter or shared
// libraries in the archive.
func TestCoinitStatic(t *testing.T) {
	b, err := Coinit()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("embedded coinit: %v", err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("embedded coinit is dynamically linked")
		}
	}
}

// The kernel unpacks concatenated archives; busybox cpio reads them one
// after another too, which shows the second one whole.
func TestExtend(t *testing.T) {
	busybox := testutil.RequireTool(t, "busybox")
	dir := t.TempDir()
	base, err := Cached(filepath.Join(dir, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(dir, "x.cpio")
	if err := Extend(dest, base, []File{{Name: "colinux/x11/auth", Data: []byte("secret")}}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dest); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	b, baseBytes := mustRead(t, dest), mustRead(t, base)
	if !bytes.HasPrefix(b, baseBytes) {
		t.Fatal("the base archive is not the first part")
	}
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	cmd := exec.Command(busybox, "cpio", "-i", "-d")
	cmd.Dir, cmd.Stdin = out, bytes.NewReader(b[len(baseBytes):])
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("busybox cpio: %v\n%s", err, msg)
	}
	got, err := os.ReadFile(filepath.Join(out, "colinux/x11/auth"))
	if err != nil || string(got) != "secret" {
		t.Errorf("extra file: %q, %v", got, err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestModules: an extension archive carries the modules decompressed,
// and the order file lists them as given.
func TestModules(t *testing.T) {
	busybox := testutil.RequireTool(t, "busybox")
	src := t.TempDir()
	plain := []byte("\x7fELF module b")
	os.WriteFile(filepath.Join(src, "b.ko"), plain, 0o644)
	testutil.Run(t, testutil.RequireTool(t, "xz"), "-k", filepath.Join(src, "b.ko"))
	os.WriteFile(filepath.Join(src, "a.ko"), []byte("\x7fELF module a"), 0o644)
	mods := []kmod.Module{{Name: "b", Path: filepath.Join(src, "b.ko.xz")}, {Name: "a", Path: filepath.Join(src, "a.ko")}}
	files, err := ModuleFiles(mods)
	if err != nil {
		t.Fatal(err)
	}
	base, err := Cached(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "x.cpio")
	if err := Extend(path, base, files); err != nil {
		t.Fatal(err)
	}
	b, baseBytes := mustRead(t, path), mustRead(t, base)
	dir := t.TempDir()
	cmd := exec.Command(busybox, "cpio", "-i", "-d")
	cmd.Dir, cmd.Stdin = dir, bytes.NewReader(b[len(baseBytes):])
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("busybox cpio: %v\n%s", err, out)
	}
	order, err := os.ReadFile(filepath.Join(dir, coinit.ModulesDir, coinit.ModulesOrder))
	if err != nil || string(order) != "b.ko\na.ko\n" {
		t.Fatalf("order file = %q, %v", order, err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, coinit.ModulesDir, "b.ko")); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("b.ko = %q, %v; want the decompressed module", got, err)
	}
}
