//go:build linux

package ext4

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/internal/testutil"
)

// TestTarPodmanImport hands the tar export to a real importer: podman
// import takes it as an image, and the image's tree, as podman's storage
// unpacked it, is the tree the filesystem was made from (owners, modes,
// device nodes, hard links, xattrs, times). A bare hard-link header once
// left the linked file at mode 0000, dated 1970, which GNU tar never
// showed: it ignores a link entry's metadata. Storage lives in the test's
// own directory (vfs driver: plain directories, no mounts to undo).
func TestTarPodmanImport(t *testing.T) {
	testutil.RequireTool(t, "podman")
	if os.Geteuid() != 0 {
		t.Skip("podman import with device nodes and owners needs root")
	}
	tree := makeTree(t)
	out, _ := exportTar(t, mkfs(t, tree, "-t", "ext4"))
	store := t.TempDir()
	podman := func(args ...string) string {
		t.Helper()
		storage := []string{"--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run"),
			"--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none"}
		return strings.TrimSpace(testutil.Run(t, "podman", append(storage, args...)...))
	}
	podman("import", out, "localhost/coimage-tar-test:1")
	got := podman("image", "mount", "localhost/coimage-tar-test:1")
	// podman sets a directory's xattrs when it creates the directory,
	// before its entries (GNU tar sets them last), so notes inherits an
	// access ACL from home/user's default ACL: the kernel's doing, for
	// any tar of this tree.
	compareTrees(t, tree, got, "home/user/notes")
}
