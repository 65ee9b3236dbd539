package bootstraptest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"testing"
	"time"

	"github.com/colinux-ng/colinux/internal/testutil"
	"github.com/colinux-ng/colinux/pkg/archive/archivetest"
)

// Invocations is where the stand-in package manager (and systemctl) in a
// fixture root append each command line, relative to the root.
const Invocations = "var/lib/fixture/invocations"

// recorder stands in for dnf, emerge and systemctl: it records its
// arguments, so tests assert the exact invocation.
const recorder = "#!/bin/sh\n# fixture stand-in: records how it was called\necho \"${0##*/} $*\" >> /" + Invocations + "\n"

// usermod stands in for shadow's (which busybox lacks) as far as
// rootfs.Customize uses it: usermod --password HASH USER.
const usermod = `#!/bin/sh
# fixture stand-in for shadow's usermod: only --password HASH USER
[ "$1" = --password ] && [ $# -eq 3 ] || { echo "usermod stand-in: unsupported: $*" >&2; exit 2; }
sed -i "s|^$3:[^:]*:|$3:$2:|" /etc/shadow
`

// Stamp is the modification time of every fixture file.
var Stamp = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// Entry is one file of a fixture tarball.
type Entry struct {
	Name  string // relative, "etc/os-release"; a trailing "/" makes a directory
	Body  string
	Link  string // symlink target
	Mode  int64
	Xattr map[string]string
}

var applets = []string{"sh", "cat", "echo", "ls", "mkdir", "rm", "sed", "grep", "cut", "chmod", "chown",
	"printf", "true", "false", "test", "sleep", "mount", "umount", "uname", "touch", "ln", "cp", "mv", "stat"}

// Root is a tiny system: busybox-static at /bin/busybox with its applets,
// accounts for root, a usermod stand-in, recorders at the given paths
// ("usr/bin/dnf") and extra entries (os-release, say).
func Root(t testing.TB, recorders []string, extra ...Entry) []Entry {
	t.Helper()
	busybox, err := os.ReadFile(testutil.RequireTool(t, "busybox"))
	must(t, err)
	es := []Entry{}
	for _, d := range []string{"bin/", "sbin/", "etc/", "usr/", "usr/bin/", "usr/sbin/", "var/", "var/lib/", "var/lib/fixture/", "root/", "tmp/", "proc/", "sys/", "dev/", "run/"} {
		es = append(es, Entry{Name: d, Mode: 0o755})
	}
	es = append(es, Entry{Name: "bin/busybox", Body: string(busybox), Mode: 0o755})
	for _, a := range applets {
		es = append(es, Entry{Name: "bin/" + a, Link: "busybox"})
	}
	es = append(es,
		Entry{Name: "sbin/init", Link: "../bin/busybox"},
		Entry{Name: "etc/passwd", Body: "root:x:0:0:root:/root:/bin/sh\n", Mode: 0o644},
		Entry{Name: "etc/group", Body: "root:x:0:\n", Mode: 0o644},
		Entry{Name: "etc/shadow", Body: "root:*:20000:0:99999:7:::\n", Mode: 0o600},
		Entry{Name: "usr/sbin/usermod", Body: usermod, Mode: 0o755},
	)
	for _, r := range recorders {
		es = append(es, Entry{Name: r, Body: recorder, Mode: 0o755})
	}
	return append(es, extra...)
}

// Tar writes the entries as a PAX tar owned by root.
func Tar(t testing.TB, entries []Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: "./" + e.Name, Mode: e.Mode, ModTime: Stamp, Format: tar.FormatPAX, Typeflag: tar.TypeReg, Size: int64(len(e.Body))}
		switch {
		case e.Link != "":
			h.Typeflag, h.Linkname, h.Mode, h.Size = tar.TypeSymlink, e.Link, 0o777, 0
		case e.Name[len(e.Name)-1] == '/':
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		for k, v := range e.Xattr {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
		must(t, tw.WriteHeader(h))
		_, err := io.WriteString(tw, e.Body)
		must(t, err)
	}
	must(t, tw.Close())
	return buf.Bytes()
}

// XZ compresses data (archivetest.XZ).
func XZ(t testing.TB, data []byte) []byte { return archivetest.XZ(t, data) }

// Gzip compresses data (OCI layers are tar+gzip).
func Gzip(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, err := w.Write(data)
	must(t, err)
	must(t, w.Close())
	return buf.Bytes()
}
