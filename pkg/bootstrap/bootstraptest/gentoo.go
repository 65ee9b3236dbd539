package bootstraptest

import (
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"testing"

	"golang.org/x/crypto/blake2b"

	"github.com/colinux-ng/colinux/pkg/pgpverify/pgptest"
)

// GentooStamp names the fixture's stage3 build.
const GentooStamp = "20250102T030405Z"

// Gentoo is a Gentoo-like tree written by WriteGentoo; paths are relative
// to its directory (the mirror's base).
type Gentoo struct {
	Pointer, Stage3, Digests, Snapshot, SnapshotSig string
	// PointerText and DigestsText are the signed texts, for re-signing.
	PointerText, DigestsText string
}

// WriteGentoo writes below dir the amd64 autobuilds of flavor (signed
// latest-stage3 pointer, stage3 tar.xz of root, clearsigned DIGESTS with
// BLAKE2B and SHA512 sections as Gentoo's are) and a portage snapshot with
// its detached signature, all signed with key.
func WriteGentoo(t testing.TB, dir string, key *pgptest.Key, flavor string, root []Entry) Gentoo {
	t.Helper()
	builds := "releases/amd64/autobuilds/"
	name := fmt.Sprintf("stage3-amd64-%s-%s.tar.xz", flavor, GentooStamp)
	g := Gentoo{
		Pointer:  builds + "latest-stage3-amd64-" + flavor + ".txt",
		Stage3:   builds + GentooStamp + "/" + name,
		Snapshot: "snapshots/portage-latest.tar.xz",
	}
	g.Digests = g.Stage3 + ".DIGESTS"
	g.SnapshotSig = g.Snapshot + ".gpgsig"

	stage3 := XZ(t, Tar(t, root))
	contents := Gzip(t, []byte("dir /bin\n"))
	write(t, dir, g.Stage3, stage3)
	write(t, dir, g.Stage3+".CONTENTS.gz", contents)
	g.PointerText = fmt.Sprintf("# Latest as of Thu, 02 Jan 2025 03:04:05 +0000\n# ts=%d\n%s/%s %d\n",
		Stamp.Unix(), GentooStamp, name, len(stage3))
	write(t, dir, g.Pointer, key.Clearsign(t, g.PointerText))
	for _, f := range []struct {
		name string
		data []byte
	}{{name, stage3}, {name + ".CONTENTS.gz", contents}} {
		b2, s512 := blake2b.Sum512(f.data), sha512.Sum512(f.data)
		g.DigestsText += fmt.Sprintf("# BLAKE2B HASH\n%s  %s\n# SHA512 HASH\n%s  %s\n",
			hex.EncodeToString(b2[:]), f.name, hex.EncodeToString(s512[:]), f.name)
	}
	write(t, dir, g.Digests, key.Clearsign(t, g.DigestsText))

	snap := XZ(t, Tar(t, []Entry{
		{Name: "portage/", Mode: 0o755}, {Name: "portage/profiles/", Mode: 0o755},
		{Name: "portage/profiles/repo_name", Body: "gentoo\n", Mode: 0o644},
		{Name: "portage/metadata/", Mode: 0o755},
		{Name: "portage/metadata/timestamp.chk", Body: "Thu, 02 Jan 2025 00:45:00 +0000\n", Mode: 0o644},
	}))
	write(t, dir, g.Snapshot, snap)
	write(t, dir, g.SnapshotSig, key.DetachSign(t, snap))
	return g
}
