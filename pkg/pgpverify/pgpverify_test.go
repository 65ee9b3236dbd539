package pgpverify

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/colinux-ng/colinux/pkg/pgpverify/pgptest"
)

func TestClearsigned(t *testing.T) {
	key, other := pgptest.NewKey(t), pgptest.NewKey(t)
	ring := openpgp.EntityList{key.Entity}
	good := key.Clearsign(t, "SHA256 (a) = 00\n")
	text, signer, err := Clearsigned(good, ring, "CHECKSUM")
	if err != nil || string(text) != "SHA256 (a) = 00\n" || len(signer) != 40 {
		t.Fatalf("good: %q %q %v", text, signer, err)
	}
	for name, data := range map[string][]byte{
		"tampered":  bytes.Replace(good, []byte("= 00"), []byte("= 01"), 1),
		"unsigned":  []byte("SHA256 (a) = 00\n"),
		"other key": other.Clearsign(t, "SHA256 (a) = 00\n"),
	} {
		_, _, err := Clearsigned(data, ring, "CHECKSUM")
		if !errors.Is(err, ErrSignature) || !strings.HasPrefix(err.Error(), "CHECKSUM: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestDetached(t *testing.T) {
	key := pgptest.NewKey(t)
	ring := openpgp.EntityList{key.Entity}
	msg := []byte("portage snapshot")
	var binary bytes.Buffer
	if err := openpgp.DetachSign(&binary, key.Entity, bytes.NewReader(msg), nil); err != nil {
		t.Fatal(err)
	}
	for _, sig := range [][]byte{key.DetachSign(t, msg), binary.Bytes()} {
		if _, err := Detached(bytes.NewReader(msg), sig, ring, "snap"); err != nil {
			t.Errorf("good: %v", err)
		}
		if _, err := Detached(strings.NewReader("portage snapshoT"), sig, ring, "snap"); !errors.Is(err, ErrSignature) {
			t.Errorf("tampered: %v", err)
		}
	}
}

func TestLoadKeyring(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	if err := pgptest.NewKey(t).Entity.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "k.gpg")
	os.WriteFile(bin, buf.Bytes(), 0o644)
	if keys, err := LoadKeyring(bin); err != nil || len(keys) != 1 {
		t.Errorf("binary: %v %v", keys, err)
	}
	if _, err := LoadKeyring(filepath.Join(dir, "missing.asc")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	empty := filepath.Join(dir, "empty.gpg")
	os.WriteFile(empty, nil, 0o644)
	if _, err := LoadKeyring(empty); err == nil {
		t.Error("empty keyring accepted")
	}
}

// TestSigningSubkey: Gentoo signs its DIGESTS and snapshots with signing
// subkeys (0xEC590EEAC9189250 under the pinned DB6B8C1F96D8BF6D); the
// signatures verify against the published public key and name its
// primary fingerprint, which is what recipes pin.
func TestSigningSubkey(t *testing.T) {
	key := pgptest.NewKey(t)
	if err := key.Entity.AddSigningSubkey(nil); err != nil {
		t.Fatal(err)
	}
	sub := key.Entity.Subkeys[len(key.Entity.Subkeys)-1]
	ring, err := ReadKeyring(key.Public(t), "published")
	if err != nil {
		t.Fatal(err)
	}
	var clear bytes.Buffer
	w, err := clearsign.Encode(&clear, sub.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("DIGESTS\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if text, signer, err := Clearsigned(clear.Bytes(), ring, "DIGESTS"); err != nil || string(text) != "DIGESTS\n" || signer != key.Fingerprint() {
		t.Errorf("clearsigned by the subkey: %q %s %v, want signer %s", text, signer, err, key.Fingerprint())
	}
	msg := []byte("portage snapshot")
	sig := key.DetachSign(t, msg) // go-crypto signs with the newest signing subkey
	block, err := armor.Decode(bytes.NewReader(sig))
	if err != nil {
		t.Fatal(err)
	}
	p, err := packet.Read(block.Body)
	if s, ok := p.(*packet.Signature); err != nil || !ok || *s.IssuerKeyId != sub.PublicKey.KeyId {
		t.Fatalf("detached signature not by the subkey: %v %T", err, p)
	}
	if signer, err := Detached(bytes.NewReader(msg), sig, ring, "snapshot"); err != nil || signer != key.Fingerprint() {
		t.Errorf("detached by the subkey: %s %v, want signer %s", signer, err, key.Fingerprint())
	}
}
