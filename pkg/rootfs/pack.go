package rootfs

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/colinux-ng/colinux/pkg/recipe"
)

// Label is the filesystem label of every image.
const Label = "rootfs"

// ext4 geometry the size estimate assumes (mke2fs -T default -b 4096).
const (
	blockSize = 4096
	inodeSize = 256
)

// PackOptions describe the image to make.
type PackOptions struct {
	Epoch    int64           // every time in the image, superblock included
	Seed     string          // derives UUID and directory hash seed (the recipe hash)
	Size     recipe.Size     // fixed, or auto
	Headroom recipe.Headroom // free space an auto size adds
}

// Image is a packed filesystem image.
type Image struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	UUID   string `json:"uuid"`
}

// Pack writes the tree at root as an ext4 filesystem into the file image
// (created or overwritten) with mke2fs -d. Equal trees, epochs and seeds
// give equal bytes: UUID and hash seed come from Seed, the superblock's
// times from E2FSPROGS_FAKE_TIME, and since mke2fs copies each inode's
// ctime and atime from the tree (where the kernel stamps ctime with the
// current time) debugfs resets both to Epoch afterwards. The image's
// /dev holds devEntries and nothing else: Pack empties the tree's first.
func Pack(ctx context.Context, root, image string, opt PackOptions) (*Image, error) {
	if err := emptyDev(root); err != nil {
		return nil, err
	}
	use, err := measure(root)
	if err != nil {
		return nil, err
	}
	size, inodes := use.geometry(opt.Size, opt.Headroom)
	uuid := seededUUID("colinux-fs-uuid:" + opt.Seed)
	args := []string{"-q", "-F", "-t", "ext4", "-T", "default", "-b", strconv.Itoa(blockSize), "-I", strconv.Itoa(inodeSize),
		"-N", strconv.FormatInt(inodes, 10), "-L", Label, "-U", uuid,
		"-E", "hash_seed=" + seededUUID("colinux-hash-seed:"+opt.Seed) + ",root_owner=0:0,nodiscard",
		"-d", root, image, strconv.FormatInt(size/1024, 10) + "k"}
	env := []string{"E2FSPROGS_FAKE_TIME=" + strconv.FormatInt(opt.Epoch, 10), "SOURCE_DATE_EPOCH=" + strconv.FormatInt(opt.Epoch, 10)}
	if _, err := run(ctx, env, nil, "mke2fs", args...); err != nil {
		return nil, fmt.Errorf("pack %s (%d bytes, %d inodes for %d used): %w", image, size, inodes, use.inodes, err)
	}
	// One debugfs run (each opens the whole filesystem) resets the times
	// and writes /dev.
	script, err := timesScript(ctx, image, opt.Epoch)
	if err != nil {
		return nil, err
	}
	if err := debugfs(ctx, env, image, script+devScript(opt.Epoch)); err != nil {
		return nil, err
	}
	sum, err := fileSHA256(image)
	if err != nil {
		return nil, err
	}
	return &Image{Size: size, SHA256: sum, UUID: uuid}, nil
}

// usage is what a tree needs on ext4.
type usage struct {
	blocks int64 // data and directory blocks
	inodes int64
}

// measure counts inodes (hard links once) and data blocks; symlinks
// shorter than 60 bytes live in the inode.
func measure(root string) (usage, error) {
	var u usage
	seen := map[uint64]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Nlink > 1 && !fi.IsDir() {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		u.inodes++
		if fi.Mode()&fs.ModeSymlink == 0 || fi.Size() >= 60 {
			u.blocks += (fi.Size() + blockSize - 1) / blockSize
		}
		return nil
	})
	return u, err
}

// geometry returns the image size in bytes (a whole MiB) and its inode
// count. An auto size holds the data, inode tables, journal and the 5%
// reserved for root, plus headroom; the inode count grows likewise.
func (u usage) geometry(fixed recipe.Size, head recipe.Headroom) (size, inodes int64) {
	// Byte headroom gets an inode per 16 KiB, mke2fs's default ratio.
	inodes = u.inodes + u.inodes*int64(head.Percent)/100 + head.Bytes/16384
	inodes = max(inodes+64, 1024)
	const mib = 1 << 20
	if !fixed.Auto() {
		return fixed.Bytes / mib * mib, max(inodes, fixed.Bytes/16384)
	}
	data := u.blocks * blockSize
	data += data*int64(head.Percent)/100 + head.Bytes
	need := data + inodes*inodeSize + journalBytes(data)
	need = need * 100 / 93 // reserved blocks, group descriptors, bitmaps
	size = max((need+mib-1)/mib*mib, recipe.MinSize)
	return size, inodes
}

// journalBytes mirrors ext2fs_default_journal_size for 4 KiB blocks.
func journalBytes(fsBytes int64) int64 {
	blocks := fsBytes / blockSize
	switch {
	case blocks < 32768:
		return 1024 * blockSize
	case blocks < 256*1024:
		return 4096 * blockSize
	case blocks < 512*1024:
		return 8192 * blockSize
	case blocks < 4096*1024:
		return 16384 * blockSize
	}
	return 32768 * blockSize
}

// seededUUID derives a version-4-shaped UUID from text.
func seededUUID(text string) string {
	s := sha256.Sum256([]byte(text))
	s[6] = s[6]&0x0f | 0x40
	s[8] = s[8]&0x3f | 0x80
	h := hex.EncodeToString(s[:16])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// timesScript is the debugfs script that sets atime and ctime of the
// root directory and of every inode mke2fs -d created (it allocates them
// in order from the first non-reserved one) to epoch.
func timesScript(ctx context.Context, image string, epoch int64) (string, error) {
	out, err := run(ctx, nil, nil, "dumpe2fs", "-h", image)
	if err != nil {
		return "", err
	}
	count, free, first := header(out, "Inode count"), header(out, "Free inodes"), header(out, "First inode")
	if count <= 0 || first <= 0 {
		return "", fmt.Errorf("%s: dumpe2fs gave no inode counts", image)
	}
	var cmds strings.Builder
	for ino := int64(1); ino <= count-free; ino++ {
		if ino == 2 || ino > first { // root, and the tree after lost+found
			fmt.Fprintf(&cmds, "sif <%d> atime 0x%x\nsif <%d> ctime 0x%x\n", ino, epoch, ino, epoch)
		}
	}
	return cmds.String(), nil
}

// debugfs runs a script on the image; env keeps its superblock times
// fake. debugfs reports a failed command on stderr and still exits 0:
// any line there but its version banner is an error.
func debugfs(ctx context.Context, env []string, image, script string) error {
	stderr, err := runStderr(ctx, env, strings.NewReader(script), "debugfs", "-w", "-f", "-", image)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(stderr)), "\n") {
		if line != "" && !strings.HasPrefix(line, "debugfs ") {
			return fmt.Errorf("%s: debugfs: %s", image, bytes.TrimSpace(stderr))
		}
	}
	return nil
}

// header reads a numeric "Name: value" line of dumpe2fs -h.
func header(out []byte, name string) int64 {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// run runs an e2fsprogs tool, returning its stdout; errors carry stderr.
func run(ctx context.Context, env []string, stdin io.Reader, name string, args ...string) ([]byte, error) {
	stdout, _, err := runTool(ctx, env, stdin, name, args...)
	return stdout, err
}

// runStderr is run returning the tool's stderr.
func runStderr(ctx context.Context, env []string, stdin io.Reader, name string, args ...string) ([]byte, error) {
	_, stderr, err := runTool(ctx, env, stdin, name, args...)
	return stderr, err
}

func runTool(ctx context.Context, env []string, stdin io.Reader, name string, args ...string) (stdout, stderr []byte, err error) {
	path, err := exec.LookPath(name)
	if err != nil {
		if path, err = exec.LookPath("/sbin/" + name); err != nil {
			return nil, nil, fmt.Errorf("%s not found: install e2fsprogs", name)
		}
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return nil, nil, fmt.Errorf("%s: %v: %s", name, err, strings.TrimSpace(errOut.String()))
	}
	return out.Bytes(), errOut.Bytes(), nil
}

func fileSHA256(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
