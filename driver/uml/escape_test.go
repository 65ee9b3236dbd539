package uml

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/driver/config"
	"github.com/colinux-ng/colinux/driver/uml/umltest"
)

// escapeScript tries, as a hostile guest, every way out of its shares it
// knows, printing ESCAPE:<how> for each that works. secretDir holds the
// host file "secret" next to the shares.
func escapeScript(secretDir string) string {
	secret := filepath.Join(secretDir, "secret")
	return fmt.Sprintf(`S=%s; D=%s
try() { sh -c "$2" >/tmp/out 2>/dev/null && echo "ESCAPE:$1"; grep -q TOPSECRET /tmp/out && echo "ESCAPE:leak $1"; }
i=0
for src in / .. ../../../../../../../../.. /../../../../../../../../.. /cofs0/../../../../../../../../.. $D /cofs0/dir-link; do
  i=$((i+1)); mkdir -p /h$i
  mount -t hostfs none /h$i -o "$src" 2>/dev/null || continue
  for p in $S /etc/shadow /proc/self/status /proc/1/environ /proc/mounts; do try "read $src $p" "cat /h$i$p"; done
  try "read $src secret" "cat /h$i/secret"
  try "write $src" "echo x > /h$i$D/pwned-$i"
  try "list $src" "ls /h$i$D | grep -q secret"
done
try "symlink to a file" "cat /mnt/cofs0/out-link"
try "symlink to a directory" "cat /mnt/cofs0/dir-link/secret"
try "symlink to /etc" "cat /mnt/cofs0/etc-link/passwd"
try "absolute symlink made by the guest" "ln -s $S /mnt/cofs0/guest-link && cat /mnt/cofs0/guest-link"
mount -o remount,rw /data 2>/dev/null
try "write to a ro share after remount" "echo x > /data/x"
mkdir -p /h-ro
try "write to a ro share mounted again" "mount -t hostfs none /h-ro -o /cofs1 && echo x > /h-ro/y"
try "device node in a share" "mknod /mnt/cofs0/null c 1 3 && echo x > /mnt/cofs0/null"
cat /mnt/cofs0/in.txt
echo from-guest > /mnt/cofs0/out.txt && echo SHARE-WRITE-OK
ls /data/ro.txt && echo SHARE-RO-READ-OK
exit 0`, secret, secretDir)
}

// escapeGuest boots the escape script with a read-write and a read-only
// share, links in the first that lead outside it, and a secret beside.
func escapeGuest(t *testing.T, unconfined bool) (out, secretDir, share, ro string) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	img := umltest.Image(t, dir, nil)
	share, ro, secretDir = filepath.Join(dir, "share"), filepath.Join(dir, "ro"), filepath.Join(dir, "outside")
	for _, d := range []string{share, ro, secretDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(secretDir, "secret"), []byte("TOPSECRET\n"), 0o644)
	os.WriteFile(filepath.Join(share, "in.txt"), []byte("SHARE-READ-OK\n"), 0o644)
	os.WriteFile(filepath.Join(ro, "ro.txt"), []byte("ro\n"), 0o644)
	os.Symlink(filepath.Join(secretDir, "secret"), filepath.Join(share, "out-link"))
	os.Symlink(secretDir, filepath.Join(share, "dir-link"))
	os.Symlink("/etc", filepath.Join(share, "etc-link"))
	res, out, err := boot(t, &config.Config{
		Disks: []config.Disk{{Index: 0, Path: img}},
		Shares: []config.Share{{Index: 0, Path: share, Target: "/mnt/cofs0"},
			{Index: 1, Path: ro, Target: "/data", ReadOnly: true}},
		Command:    []string{"sh", "-c", escapeScript(secretDir)},
		Unconfined: unconfined,
	})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("%+v %v\n%s", res, err, out)
	}
	return out, secretDir, share, ro
}

// TestEscapes: a guest with a read-write and a read-only share tries
// every way out; each fails, while the shares work as configured.
func TestEscapes(t *testing.T) {
	t.Parallel()
	out, secretDir, share, ro := escapeGuest(t, false)
	t.Logf("guest output:\n%s", out)
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "ESCAPE:") {
			t.Errorf("the guest escaped: %s", line)
		}
	}
	for _, want := range []string{"SHARE-READ-OK", "SHARE-WRITE-OK", "SHARE-RO-READ-OK"} {
		if !strings.Contains(out, want) {
			t.Errorf("the shares do not work: no %s", want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(share, "out.txt")); err != nil || string(b) != "from-guest\n" {
		t.Errorf("file written to the share: %q %v", b, err)
	}
	entries, _ := os.ReadDir(secretDir)
	if len(entries) != 1 {
		t.Errorf("the guest wrote outside its shares: %v", entries)
	}
	for _, f := range []string{"x", "y"} {
		if _, err := os.Stat(filepath.Join(ro, f)); err == nil {
			t.Errorf("the guest wrote %s to the read-only share", f)
		}
	}
}

// TestEscapesUnconfined proves TestEscapes can fail: without confinement
// the same guest gets out.
func TestEscapesUnconfined(t *testing.T) {
	t.Parallel()
	out, secretDir, _, ro := escapeGuest(t, true)
	for _, want := range []string{"ESCAPE:leak read ../../../../../../../../.. " + filepath.Join(secretDir, "secret"),
		"ESCAPE:leak read /cofs0/dir-link secret", "ESCAPE:write to a ro share mounted again"} {
		if !strings.Contains(out, want) {
			t.Errorf("unconfined, the escape check missed %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(ro, "y")); err != nil {
		t.Errorf("unconfined, the write to the read-only share did not land: %v", err)
	}
}
