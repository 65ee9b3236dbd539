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
