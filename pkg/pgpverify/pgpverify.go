// Package pgpverify checks the OpenPGP signatures distributions put on their
// release metadata: clearsigned texts (Debian's InRelease, Fedora's
// CHECKSUM, Gentoo's DIGESTS and latest-stage3 pointers) and detached
// signatures (Gentoo's portage snapshot). Callers get the signed bytes
// only, so nothing outside the signature is ever parsed.
package pgpverify

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
)

// ErrSignature: the data is unsigned, badly signed or signed by a key
// outside the keyring.
var ErrSignature = errors.New("bad OpenPGP signature")

// LoadKeyring reads an OpenPGP keyring file, binary (as Debian ships them)
// or ASCII-armored (as Fedora and Gentoo publish theirs). Errors name the
// file; a missing file wraps fs.ErrNotExist.
func LoadKeyring(path string) (openpgp.EntityList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read keyring: %w", err)
	}
	return ReadKeyring(data, path)
}

// ReadKeyring parses keyring data, binary or ASCII-armored; name labels
// errors.
func ReadKeyring(data []byte, name string) (openpgp.EntityList, error) {
	var (
		keys openpgp.EntityList
		err  error
	)
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN PGP")) {
		keys, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	} else {
		keys, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("keyring %s: %w", name, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("keyring %s holds no keys", name)
	}
	return keys, nil
}

// Clearsigned checks a clearsigned message against keyring and returns its
// signed text and the signer's primary key fingerprint (uppercase hex).
// name (a URL or file) labels errors, which wrap ErrSignature.
func Clearsigned(data []byte, keyring openpgp.KeyRing, name string) (text []byte, signer string, err error) {
	block, _ := clearsign.Decode(data)
	if block == nil {
		return nil, "", fmt.Errorf("%s: not a clearsigned message: %w", name, ErrSignature)
	}
	e, err := block.VerifySignature(keyring, nil)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w: %v", name, ErrSignature, err)
	}
	return block.Plaintext, Fingerprint(e), nil
}

// Detached checks sig, an armored or binary detached signature, over
// signed against keyring and returns the signer's fingerprint. name labels
// errors, which wrap ErrSignature.
func Detached(signed io.Reader, sig []byte, keyring openpgp.KeyRing, name string) (string, error) {
	check := openpgp.CheckDetachedSignature
	if strings.HasPrefix(string(bytes.TrimSpace(sig)), "-----BEGIN PGP SIGNATURE") {
		check = openpgp.CheckArmoredDetachedSignature
	}
	e, err := check(keyring, signed, bytes.NewReader(sig), nil)
	if err != nil {
		return "", fmt.Errorf("%s: %w: %v", name, ErrSignature, err)
	}
	return Fingerprint(e), nil
}

// Fingerprint is e's primary key fingerprint, uppercase hex.
func Fingerprint(e *openpgp.Entity) string {
	return strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
}
