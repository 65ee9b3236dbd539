package bootstraptest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/pkg/archive/archivetest"
	"github.com/colinux-ng/colinux/pkg/pgpverify/pgptest"
)

// DistKeys is a served fixture Debian archive (suite stable) whose
// distribution-gpg-keys package ships Fedora release keys, as Debian's
// does, signed by an archive key whose keyring is at Keyring.
type DistKeys struct {
	Mirror, Keyring string
}

// WriteDistKeys writes and serves the archive; fedora maps a Fedora
// release ("44") to the key the package ships for it.
func WriteDistKeys(t testing.TB, fedora map[string]*pgptest.Key) DistKeys {
	t.Helper()
	dir := t.TempDir()
	archiveKey := pgptest.NewKey(t)
	keyring := filepath.Join(t.TempDir(), "debian-archive-keyring.gpg")
	must(t, os.WriteFile(keyring, archiveKey.PublicBinary(t), 0o644))
	var files []archivetest.File
	for release, k := range fedora {
		files = append(files, archivetest.File{Path: "usr/share/distribution-gpg-keys/fedora/RPM-GPG-KEY-fedora-" + release + "-primary", Body: k.Public(t)})
	}
	deb := archivetest.Deb(t, "distribution-gpg-keys", "1.119+ds-1", "all", files...)
	archivetest.Write(t, dir, archiveKey, archivetest.Suite{Codename: "trixie", Suite: "stable",
		Packages: []archivetest.Package{{Name: "distribution-gpg-keys", Version: "1.119+ds-1", Architecture: "all", Deb: deb}}})
	return DistKeys{Mirror: Serve(t, dir), Keyring: keyring}
}

// ServeKeyServer answers HKP lookups (/pks/lookup?op=get&search=0xFPR),
// as Gentoo's key server does, with the armored public key keys maps the
// fingerprint to, and returns its URL.
func ServeKeyServer(t testing.TB, keys map[string]*pgptest.Key) string {
	t.Helper()
	byFP := map[string][]byte{}
	for fp, k := range keys {
		byFP["0X"+fp] = k.Public(t)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := byFP[strings.ToUpper(r.URL.Query().Get("search"))]
		if r.URL.Path != "/pks/lookup" || r.URL.Query().Get("op") != "get" || !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(key)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
