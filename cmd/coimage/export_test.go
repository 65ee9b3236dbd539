package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/internal/testutil"
)

// cobdImage makes a bare ext4 image (a cobd image) holding a few MiB.
func cobdImage(t *testing.T, dir string) string {
	t.Helper()
	tree := filepath.Join(dir, "tree")
	fillTree(t, tree)
	img := filepath.Join(dir, "root.img")
	testutil.Run(t, "mke2fs", "-q", "-F", "-t", "ext4", "-L", "cobd-root", "-d", tree, img, "32M")
	return img
}

func TestExportDiskFormats(t *testing.T) {
	testutil.RequireTool(t, "qemu-img")
	dir := t.TempDir()
	img := cobdImage(t, dir)
	for _, tc := range []struct {
		format string
		args   []string
	}{
		{"qcow2", nil},
		{"qcow2", []string{"--compress"}},
		{"qcow2", []string{"--compress", "--compression", "zstd"}},
		{"vhdx", nil},
		{"vmdk", nil},
		{"vdi", nil},
	} {
		t.Run(tc.format+strings.Join(tc.args, ""), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out."+tc.format)
			args := append(append([]string{"export", "--json", "--format", tc.format}, tc.args...), img, out)
			stdout, stderr, code := coimage(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var rep exportReport
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Bytes == 0 || rep.Size != 32<<20 {
				t.Errorf("report %s (%v)", stdout, err)
			}
			qfmt := tc.format
			testutil.Run(t, "qemu-img", "compare", "-f", "raw", "-F", qfmt, img, out)
			testutil.Run(t, "qemu-img", "check", "-f", qfmt, out)
		})
	}
}

// TestExportGPTDisk: --disk makes a GPT disk whose partition 1, typed
// Linux root (x86-64), is the image, and which convert turns back into it.
func TestExportGPTDisk(t *testing.T) {
	testutil.RequireTool(t, "qemu-img")
	dir := t.TempDir()
	img := cobdImage(t, dir)
	out := filepath.Join(dir, "disk.qcow2")
	if _, stderr, code := coimage(t, "export", "--format", "qcow2", "--disk", img, out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	raw := filepath.Join(dir, "disk.raw")
	testutil.Run(t, "qemu-img", "convert", "-O", "raw", out, raw)
	var table struct {
		PartitionTable struct {
			Label      string
			Partitions []struct {
				Start, Size int64
				Type        string
			}
		}
	}
	if err := json.Unmarshal([]byte(testutil.Run(t, "sfdisk", "-J", raw)), &table); err != nil {
		t.Fatal(err)
	}
	pt := table.PartitionTable
	if pt.Label != "gpt" || len(pt.Partitions) != 1 || pt.Partitions[0].Start != 2048 ||
		pt.Partitions[0].Size != 32<<20/512 || pt.Partitions[0].Type != "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709" {
		t.Fatalf("partition table %+v", pt)
	}
	// sfdisk --verify finds both headers and arrays sound.
	testutil.Run(t, "sfdisk", "--verify", raw)
	back := filepath.Join(dir, "back.img")
	if _, stderr, code := coimage(t, "convert", out, back); code != 0 {
		t.Fatalf("convert back: exit %d: %s", code, stderr)
	}
	assertSameFile(t, back, img)

	if _, stderr, code := coimage(t, "export", "--format", "vhdx", "--disk", raw, filepath.Join(dir, "twice.vhdx")); code == 0 || !strings.Contains(stderr, "already is a whole disk") {
		t.Errorf("--disk of a whole disk: exit %d, %s", code, stderr)
	}
}

// TestExportTar exports the root filesystem of a partitioned qcow2 disk as
// a tar and extracts it.
func TestExportTar(t *testing.T) {
	testutil.RequireTool(t, "qemu-img")
	dir := t.TempDir()
	raw := makeDisk(t, dir, layouts[3])
	qcow := filepath.Join(dir, "disk.qcow2")
	testutil.Run(t, "qemu-img", "convert", "-O", "qcow2", raw, qcow)
	out := filepath.Join(dir, "root.tar")
	if _, stderr, code := coimage(t, "export", "--format", "tar", qcow, out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got := filepath.Join(dir, "x")
	os.Mkdir(got, 0o755)
	testutil.Run(t, "tar", "-xf", out, "-C", got)
	want := filepath.Join(dir, layouts[3].name+".tree")
	for i := range 8 {
		name := filepath.Join("d"+string(rune('0'+i)), "data")
		assertSameFile(t, filepath.Join(got, name), filepath.Join(want, name))
	}
	if _, err := os.Stat(filepath.Join(got, "lost+found")); err != nil {
		t.Errorf("lost+found missing: %v", err)
	}
}

func TestExportRefusals(t *testing.T) {
	dir := t.TempDir()
	img := cobdImage(t, dir)
	existing := filepath.Join(dir, "existing.qcow2")
	os.WriteFile(existing, []byte("keep"), 0o644)
	hard := filepath.Join(dir, "hard-link.img")
	if err := os.Link(img, hard); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"export", "--format", "qcow2", img, existing}, "--force replaces it"},
		{[]string{"export", "--format", "qcow2", "--force", img, img}, "is the input"},
		{[]string{"export", "--format", "tar", "--force", img, hard}, "is the input"},
		{[]string{"export", "--format", "vdi", "--force", img, dir}, "a directory, not a regular file"},
		{[]string{"export", "--format", "vhdx", "--compress", img, filepath.Join(dir, "x.vhdx")}, "--compress is for qcow2"},
		{[]string{"export", "--format", "tar", "--disk", img, filepath.Join(dir, "x.tar")}, "--disk is for disk formats"},
		{[]string{"export", "--format", "vhd", img, filepath.Join(dir, "x.vhd")}, `--format "vhd"`},
	} {
		_, stderr, code := coimage(t, tc.args...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tc.args, code, stderr, tc.want)
		}
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep" {
		t.Error("an existing output was replaced")
	}
	assertNoTemp(t, dir)
}
