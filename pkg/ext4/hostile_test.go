package ext4

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/internal/testutil"
)

// smallFS makes a filesystem with a directory a/b, a file a/f, a sparse
// file a/sparse and a directory with a few entries.
func smallFS(t testing.TB, args ...string) string {
	t.Helper()
	tree := filepath.Join(t.TempDir(), "tree")
	for _, d := range []string{"a/b", "d"} {
		if err := os.MkdirAll(filepath.Join(tree, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(tree, "a/f"), bytes.Repeat([]byte("data"), 3000), 0o644)
	// A sparse file, which the tar stores as a sparse entry.
	if f, err := os.Create(filepath.Join(tree, "a/sparse")); err == nil {
		f.WriteAt([]byte("island"), 1<<20)
		f.Truncate(2 << 20)
		f.Close()
	}
	for _, n := range []string{"one", "two", "three"} {
		os.WriteFile(filepath.Join(tree, "d", n), []byte(n), 0o644)
	}
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.Run(t, "mke2fs", append(append([]string{"-q", "-F"}, args...), "-d", tree, img, "4M")...)
	return img
}

// openImage opens a filesystem image file with this package for the
// rest of the test.
func openImage(t *testing.T, img string) *FS {
	t.Helper()
	fsys, err := Open(testutil.Open(t, img))
	if err != nil {
		t.Fatal(err)
	}
	return fsys
}

// tarOf opens the image and writes its tar, returning its length.
func tarOf(img string) (int64, error) {
	f, err := os.Open(img)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, _ := f.Stat()
	fsys, err := Open(f, fi.Size())
	if err != nil {
		return 0, err
	}
	var n countWriter
	err = WriteTar(context.Background(), &n, fsys, TarOptions{})
	return int64(n), err
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

// patchName replaces a directory entry's name in the image's bytes.
func patchName(t *testing.T, img, from, to string) {
	t.Helper()
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte(from))
	if i < 0 || len(from) != len(to) {
		t.Fatalf("no entry %q to patch", from)
	}
	copy(b[i:], to)
	if err := os.WriteFile(img, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// entryInode returns the offset of the inode field of the directory entry
// named name (the 8 bytes before a name are inode, record and name length).
func entryInode(t *testing.T, img, name string) int64 {
	t.Helper()
	b, _ := os.ReadFile(img)
	i := bytes.Index(b, append([]byte{byte(len(name)), 1}, name...))
	if i < 6 {
		t.Fatalf("no entry %q", name)
	}
	return int64(i - 6)
}

func TestTarHostile(t *testing.T) {
	for _, tc := range []struct {
		name     string
		damage   func(t *testing.T, img string)
		sentinel error
		want     string
	}{
		{"directory-loop", func(t *testing.T, img string) {
			debugfs(t, img, "ln /a /a/b/loop")
		}, ErrFormat, "appears twice"},
		{"slash-in-name", func(t *testing.T, img string) {
			patchName(t, img, "three", "th/ee")
		}, ErrFormat, `entry named "th/ee"`},
		{"dot-dot-entry", func(t *testing.T, img string) {
			debugfs(t, img, "ln /a /d/.x")
			patchName(t, img, ".x", "..")
		}, nil, ""}, // a second ".." is skipped like the first
		{"inode-out-of-range", func(t *testing.T, img string) {
			f, _ := os.OpenFile(img, os.O_WRONLY, 0)
			f.WriteAt([]byte{0xff, 0xff, 0xff, 0x0f}, entryInode(t, img, "two"))
			f.Close()
		}, ErrFormat, "inode 268435455 outside"},
		{"extent-past-end", func(t *testing.T, img string) {
			debugfs(t, img, "sif /a/f block[5] 0x7ffffff0")
		}, ErrFormat, "outside the"},
		{"shared-blocks-bomb", func(t *testing.T, img string) {
			// Five files each mapping every block but the first: five
			// times the filesystem's bytes of data.
			fsys := openImage(t, img)
			n := fsys.blocks - 1
			small := filepath.Join(t.TempDir(), "four")
			os.WriteFile(small, []byte("four"), 0o644)
			reqs := []string{"write " + small + " /d/four"}
			for _, f := range []string{"/a/f", "/d/one", "/d/two", "/d/three", "/d/four"} {
				// i_block words 3-5 are the root's first extent: logical
				// block, length (and start's high bits), start.
				reqs = append(reqs, "sif "+f+" block[3] 0", fmt.Sprintf("sif %s block[4] %d", f, n),
					"sif "+f+" block[5] 1", fmt.Sprintf("sif %s size %d", f, n*fsys.blockSize))
			}
			debugfs(t, img, reqs...)
		}, ErrFormat, "tar bomb"},
		{"sparse-file-past-the-filesystem", func(t *testing.T, img string) {
			debugfs(t, img, "sif /a/f size 0x100000000000") // 16 TiB, stored as its data only
		}, nil, ""},
		{"bad-extent-magic", func(t *testing.T, img string) {
			debugfs(t, img, "sif /a/f block[0] 0x1234")
		}, ErrFormat, "extent node without its magic"},
		{"needs-recovery", func(t *testing.T, img string) {
			debugfs(t, img, "ssv feature_incompat "+strconv.Itoa(0x4|0x2|0x40|0x80|0x200))
		}, ErrUnsupported, "needs recovery"},
		{"not-ext4", func(t *testing.T, img string) {
			f, _ := os.OpenFile(img, os.O_WRONLY, 0)
			f.WriteAt([]byte{0, 0}, 1024+0x38)
			f.Close()
		}, ErrFormat, "no ext2/3/4 superblock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := smallFS(t, "-t", "ext4")
			tc.damage(t, img)
			n, err := tarOf(img)
			t.Logf("error: %v", err)
			if tc.sentinel == nil {
				if err != nil {
					t.Fatal(err)
				}
				if n > 1<<20 {
					t.Fatalf("a tar of %d bytes from a 4 MiB filesystem", n)
				}
				return
			}
			if !errors.Is(err, tc.sentinel) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %v mentioning %q", err, tc.sentinel, tc.want)
			}
		})
	}
}

func FuzzExt4(f *testing.F) {
	for _, args := range [][]string{{"-t", "ext4"}, {"-t", "ext2", "-b", "1024"}, {"-t", "ext4", "-O", "inline_data"}} {
		b, err := os.ReadFile(smallFS(f, args...))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(testutil.EncodeSparse(b))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := testutil.DecodeSparse(data)
		fsys, err := Open(s, s.Size())
		if err != nil {
			return
		}
		WriteTar(context.Background(), io.Discard, fsys, TarOptions{})
	})
}

// debugfs runs debugfs requests against an image, writing to it.
func debugfs(t *testing.T, img string, requests ...string) {
	t.Helper()
	cmd := exec.Command(testutil.RequireTool(t, "debugfs"), "-w", "-f", "-", img)
	cmd.Stdin = strings.NewReader(strings.Join(requests, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("debugfs %v: %v\n%s", requests, err, out)
	}
}
