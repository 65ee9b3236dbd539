package kmod

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/internal/testutil"
)

// makeModule writes an ELF file with a .modinfo section holding info
// (NUL-separated key=value), the way the kernel build records it, using
// binutils' objcopy on a small ELF object; compress names xz, zstd or "".
func makeModule(t *testing.T, path string, info []string, compress string) {
	t.Helper()
	objcopy := testutil.RequireTool(t, "objcopy")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	sec := filepath.Join(t.TempDir(), "modinfo")
	if err := os.WriteFile(sec, []byte(strings.Join(info, "\x00")+"\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	plain := strings.TrimSuffix(strings.TrimSuffix(path, ".xz"), ".zst")
	if out, err := exec.Command(objcopy, "--add-section", ".modinfo="+sec, elfObject(t), plain).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	switch compress {
	case "xz":
		testutil.Run(t, "xz", "--check=crc32", plain)
	case "zstd":
		testutil.Run(t, "zstd", "-q", "--rm", plain)
	}
}

// elfObject is a small relocatable ELF object, as kernel modules are.
func elfObject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "m.s")
	os.WriteFile(src, []byte(".text\nnop\n"), 0o644)
	obj := filepath.Join(dir, "m.o")
	testutil.Run(t, testutil.RequireTool(t, "as"), "-o", obj, src)
	return obj
}

// tree is a module tree shaped like a distribution kernel's: nested
// directories, a dash in a file name, compressed modules, built-ins.
func tree(t *testing.T) string {
	dir := t.TempDir()
	k := filepath.Join(dir, "kernel")
	makeModule(t, filepath.Join(k, "drivers/net/virtio_net.ko"), []string{"license=GPL", "depends=net_failover,virtio_ring", "name=virtio_net"}, "")
	makeModule(t, filepath.Join(k, "drivers/net/net_failover.ko.xz"), []string{"depends=failover", "name=net_failover"}, "xz")
	makeModule(t, filepath.Join(k, "net/core/failover.ko.zst"), []string{"depends=", "name=failover"}, "zstd")
	makeModule(t, filepath.Join(k, "drivers/char/virtio-rng.ko"), []string{"depends=", "name=virtio_rng"}, "")
	makeModule(t, filepath.Join(k, "a/loop1.ko"), []string{"depends=loop2"}, "")
	makeModule(t, filepath.Join(k, "a/loop2.ko"), []string{"depends=loop1"}, "")
	makeModule(t, filepath.Join(k, "a/orphan.ko"), []string{"depends=gone"}, "")
	os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte("kernel/drivers/virtio/virtio_ring.ko\nkernel/fs/ext4/ext4.ko\n"), 0o644)
	return dir
}

func TestResolve(t *testing.T) {
	tr, err := Open(tree(t))
	if err != nil {
		t.Fatal(err)
	}
	mods, err := tr.Resolve("virtio-rng", "virtio_net", "ext4", "failover")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mods {
		names = append(names, m.Name)
	}
	want := []string{"virtio_rng", "failover", "net_failover", "virtio_net"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("Resolve = %v, want %v (dependencies first, built-ins left out)", names, want)
	}
	for _, tc := range []struct{ name, msg string }{
		{"loop1", "dependency cycle: loop1 → loop2 → loop1"},
		{"orphan", "orphan needs gone, which is not in"},
		{"nosuch", "no module nosuch in"},
	} {
		if _, err := tr.Resolve(tc.name); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Resolve(%s) = %v, want an error saying %q", tc.name, err, tc.msg)
		}
	}
}

// TestRead: compressed modules come out as the plain ELF file.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	info := []string{"depends=a,b-c", "name=m"}
	makeModule(t, filepath.Join(dir, "plain.ko"), info, "")
	want, err := Read(filepath.Join(dir, "plain.ko"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"xz", "zstd"} {
		p := filepath.Join(dir, c+".ko")
		makeModule(t, p, info, c)
		ext := map[string]string{"xz": ".xz", "zstd": ".zst"}[c]
		got, err := Read(p + ext)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("Read(%s): %d bytes, %v; want the plain module's %d", p+ext, len(got), err, len(want))
		}
		in, err := ReadInfo(p + ext)
		if err != nil || !reflect.DeepEqual(in, Info{Name: "m", Depends: []string{"a", "b_c"}}) {
			t.Errorf("ReadInfo(%s) = %+v, %v", p+ext, in, err)
		}
	}
	bad := filepath.Join(dir, "bad.ko")
	os.WriteFile(bad, []byte("not an ELF file"), 0o644)
	if _, err := ReadInfo(bad); !errors.Is(err, ErrFormat) {
		t.Errorf("ReadInfo(garbage) = %v, want ErrFormat", err)
	}
}

// FuzzParseInfo: any bytes give an Info or ErrFormat. The seed in
// testdata/fuzz is a module made by makeModule.
func FuzzParseInfo(f *testing.F) {
	f.Add([]byte("\x7fELF"))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := ParseInfo(bytes.NewReader(b))
		if err != nil && !errors.Is(err, ErrFormat) {
			t.Fatalf("error without ErrFormat: %v", err)
		}
		for _, d := range info.Depends {
			if d == "" || strings.Contains(d, "-") {
				t.Fatalf("bad dependency name %q", d)
			}
		}
	})
}
