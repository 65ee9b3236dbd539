package main

import (
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/colinux-ng/colinux/internal/testutil"
)

// sparseRaw writes a 12 MiB raw disk holding a few scattered runs of data
// and returns its path.
func sparseRaw(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "disk.raw")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(12 << 20); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(3))
	for _, at := range []int64{0, 1<<20 + 512, 5 << 20, 12<<20 - 4096} {
		b := make([]byte, 70_000)
		rng.Read(b)
		if _, err := f.WriteAt(b[:min(int64(len(b)), 12<<20-at)], at); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// TestConvertWholeMatchesQemuImg converts every subformat the readers know
// with --whole and compares the output with qemu-img convert -O raw; info
// must name the subformat.
func TestConvertWholeMatchesQemuImg(t *testing.T) {
	testutil.RequireTool(t, "qemu-img")
	dir := t.TempDir()
	raw := sparseRaw(t, dir)
	for _, tc := range []struct{ name, format, opts, subformat string }{
		{"raw", "raw", "", ""},
		{"qcow2", "qcow2", "", "v3"},
		{"qcow2-zstd", "qcow2", "compression_type=zstd", "v3"},
		{"vmdk-monolithicSparse", "vmdk", "subformat=monolithicSparse", "monolithicSparse"},
		{"vmdk-monolithicFlat", "vmdk", "subformat=monolithicFlat", "monolithicFlat"},
		{"vmdk-twoGbMaxExtentSparse", "vmdk", "subformat=twoGbMaxExtentSparse", "twoGbMaxExtentSparse"},
		{"vmdk-twoGbMaxExtentFlat", "vmdk", "subformat=twoGbMaxExtentFlat", "twoGbMaxExtentFlat"},
		{"vmdk-streamOptimized", "vmdk", "subformat=streamOptimized", "streamOptimized"},
		{"vhd-dynamic", "vpc", "", "dynamic"},
		{"vhd-fixed", "vpc", "subformat=fixed", "fixed"},
		{"vhdx-dynamic", "vhdx", "", "dynamic"},
		{"vhdx-fixed", "vhdx", "subformat=fixed", "fixed"},
		{"vdi-dynamic", "vdi", "", "dynamic"},
		{"vdi-static", "vdi", "static=on", "static"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := t.TempDir()
			image := filepath.Join(sub, "in."+tc.format)
			args := []string{"convert", "-f", "raw", "-O", tc.format}
			if tc.opts != "" {
				args = append(args, "-o", tc.opts)
			}
			testutil.Run(t, "qemu-img", append(args, raw, image)...)
			want := filepath.Join(sub, "want.raw")
			testutil.Run(t, "qemu-img", "convert", "-f", tc.format, "-O", "raw", image, want)

			got := filepath.Join(sub, "got.raw")
			stdout, stderr, code := coimage(t, "convert", "--whole", "--json", image, got)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var rep convertReport
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Mode != "whole" || rep.Size < 12<<20 {
				t.Errorf("report %s (%v)", stdout, err)
			}
			assertSameFile(t, got, want)
			if alloc := testutil.AllocatedBytes(t, got); alloc > 1<<20 {
				t.Errorf("output allocates %d bytes for ~280 KB of data", alloc)
			}

			stdout, stderr, code = coimage(t, "info", "--json", image)
			if code != 0 {
				t.Fatalf("info: exit %d: %s", code, stderr)
			}
			var info infoReport
			if err := json.Unmarshal([]byte(stdout), &info); err != nil || info.Details.Subformat != tc.subformat {
				t.Errorf("info %s (%v): want subformat %q", stdout, err, tc.subformat)
			}
		})
	}
}
