// Package pgptest makes OpenPGP signing keys for tests and signs with them
// the way distributions sign their release metadata.
package pgptest

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Key is an OpenPGP signing key made for one test.
type Key struct {
	Entity *openpgp.Entity
}

// NewKey generates an Ed25519 key (fast, and a type real keys also use).
func NewKey(t testing.TB) *Key {
	t.Helper()
	e, err := openpgp.NewEntity("coimage test", "", "test@example.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	must(t, err)
	return &Key{Entity: e}
}

// WritePublic writes the armored public key to path.
func (k *Key) WritePublic(t testing.TB, path string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	must(t, os.WriteFile(path, k.Public(t), 0o644))
}

// Public is the armored public key, as Fedora and Gentoo publish theirs.
func (k *Key) Public(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	must(t, err)
	must(t, k.Entity.Serialize(w))
	must(t, w.Close())
	return buf.Bytes()
}

// PublicBinary is the binary public key, as Debian's keyring packages
// ship theirs.
func (k *Key) PublicBinary(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	must(t, k.Entity.Serialize(&buf))
	return buf.Bytes()
}

// Fingerprint is the primary key's fingerprint, uppercase hex.
func (k *Key) Fingerprint() string {
	return strings.ToUpper(hex.EncodeToString(k.Entity.PrimaryKey.Fingerprint))
}

// Clearsign signs text as Fedora's CHECKSUM and Gentoo's DIGESTS are.
func (k *Key) Clearsign(t testing.TB, text string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := clearsign.Encode(&buf, k.Entity.PrivateKey, nil)
	must(t, err)
	_, err = w.Write([]byte(text))
	must(t, err)
	must(t, w.Close())
	return buf.Bytes()
}

// DetachSign makes an armored detached signature, as Gentoo's .gpgsig.
func (k *Key) DetachSign(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	must(t, openpgp.ArmoredDetachSign(&buf, k.Entity, bytes.NewReader(data), nil))
	return buf.Bytes()
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
