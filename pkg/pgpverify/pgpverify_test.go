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
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func newKey(t *testing.T) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity("pgpverify test", "", "test@example.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func clearsignText(t *testing.T, e *openpgp.Entity, text string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := clearsign.Encode(&buf, e.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(text))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestClearsigned(t *testing.T) {
	key, other := newKey(t), newKey(t)
	ring := openpgp.EntityList{key}
	good := clearsignText(t, key, "SHA256 (a) = 00\n")
	text, signer, err := Clearsigned(good, ring, "CHECKSUM")
	if err != nil || string(text) != "SHA256 (a) = 00\n" || len(signer) != 40 {
		t.Fatalf("good: %q %q %v", text, signer, err)
	}
	for name, data := range map[string][]byte{
		"tampered":  bytes.Replace(good, []byte("= 00"), []byte("= 01"), 1),
		"unsigned":  []byte("SHA256 (a) = 00\n"),
		"other key": clearsignText(t, other, "SHA256 (a) = 00\n"),
	} {
		_, _, err := Clearsigned(data, ring, "CHECKSUM")
		if !errors.Is(err, ErrSignature) || !strings.HasPrefix(err.Error(), "CHECKSUM: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestDetached(t *testing.T) {
	key := newKey(t)
	ring := openpgp.EntityList{key}
	msg := []byte("portage snapshot")
	var armored, binary bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&armored, key, bytes.NewReader(msg), nil); err != nil {
		t.Fatal(err)
	}
	if err := openpgp.DetachSign(&binary, key, bytes.NewReader(msg), nil); err != nil {
		t.Fatal(err)
	}
	for _, sig := range [][]byte{armored.Bytes(), binary.Bytes()} {
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
	if err := newKey(t).Serialize(&buf); err != nil {
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
