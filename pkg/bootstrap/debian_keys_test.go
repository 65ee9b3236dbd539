package bootstrap

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/pkg/distkeys"
	"github.com/colinux-ng/colinux/pkg/pgpverify"
	"github.com/colinux-ng/colinux/pkg/pgpverify/pgptest"
)

// TestDebianKeysPinned: a Debian recipe's fingerprints narrow the archive
// keyring to the pinned keys, and a pin the keyring lacks is refused.
func TestDebianKeysPinned(t *testing.T) {
	current, old, stranger := pgptest.NewKey(t), pgptest.NewKey(t), pgptest.NewKey(t)
	keyring := filepath.Join(t.TempDir(), "archive-keyring.gpg")
	if err := os.WriteFile(keyring, append(current.PublicBinary(t), old.PublicBinary(t)...), 0o644); err != nil {
		t.Fatal(err)
	}
	all, err := debianKeys(keyring, nil)
	if err != nil || len(all) != 2 {
		t.Fatalf("unpinned: %d keys, %v", len(all), err)
	}
	keys, err := debianKeys(keyring, []string{current.Fingerprint()})
	if err != nil || len(keys) != 1 || pgpverify.Fingerprint(keys[0]) != current.Fingerprint() {
		t.Fatalf("pinned: %v %v", keys, err)
	}
	_, err = debianKeys(keyring, []string{stranger.Fingerprint()})
	if !errors.Is(err, distkeys.ErrFingerprint) || !strings.Contains(err.Error(), stranger.Fingerprint()) {
		t.Errorf("a pin the keyring lacks: %v", err)
	}
}
