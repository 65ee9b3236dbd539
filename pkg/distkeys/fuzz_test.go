package distkeys

import (
	"slices"
	"testing"

	"github.com/colinux-ng/colinux/pkg/pgpverify"
	"github.com/colinux-ng/colinux/pkg/pgpverify/pgptest"
)

// FuzzPinned: whatever a key file holds, pinned returns only keys whose
// fingerprints are pinned, all of them, or an error; it never panics.
func FuzzPinned(f *testing.F) {
	key := pgptest.NewKey(f)
	f.Add(key.PublicBinary(f), key.Fingerprint())
	f.Add(key.Public(f), key.Fingerprint())
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n-----END PGP PUBLIC KEY BLOCK-----\n"), key.Fingerprint())
	f.Fuzz(func(t *testing.T, data []byte, pin string) {
		pins, err := parsePins(Key{Package: "p", File: "f", Fingerprints: []string{pin}})
		if err != nil {
			return
		}
		keys, err := pinned(data, pins, "fuzz")
		if err != nil {
			return
		}
		if len(keys) != len(pins) {
			t.Fatalf("%d keys for %d pins", len(keys), len(pins))
		}
		for _, k := range keys {
			if !slices.Contains(pins, pgpverify.Fingerprint(k)) {
				t.Fatalf("key %s is not pinned", pgpverify.Fingerprint(k))
			}
		}
	})
}
