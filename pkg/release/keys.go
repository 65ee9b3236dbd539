package release

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"aead.dev/minisign"
)

// GenerateKey writes prefix.key (the secret key, encrypted with password
// unless it is empty) and prefix.pub in minisign's formats, so the stock
// minisign tool signs and verifies with them too. Existing files are never
// replaced.
func GenerateKey(prefix, password string) (pubPath, keyPath string, err error) {
	pubPath, keyPath = prefix+".pub", prefix+".key"
	for _, p := range []string{keyPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", "", fmt.Errorf("%s exists; not replacing a key", p)
		}
	}
	pub, priv, err := minisign.GenerateKey(nil)
	if err != nil {
		return "", "", err
	}
	var secret []byte
	if password != "" {
		secret, err = minisign.EncryptKey(password, priv)
	} else {
		secret, err = priv.MarshalText()
	}
	if err != nil {
		return "", "", err
	}
	pubText, _ := pub.MarshalText()
	if err := writeNew(keyPath, append(secret, '\n'), 0o600); err != nil {
		return "", "", err
	}
	if err := writeNew(pubPath, append(pubText, '\n'), 0o644); err != nil {
		os.Remove(keyPath)
		return "", "", err
	}
	return pubPath, keyPath, nil
}

// writeNew creates path, failing if it exists, and fsyncs it; a failed
// write removes it.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// LoadPrivateKey reads a minisign secret key; an encrypted one needs the
// password (the first line of the --password-file).
func LoadPrivateKey(path, password string) (minisign.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return minisign.PrivateKey{}, err
	}
	var key minisign.PrivateKey
	if minisign.IsEncrypted(data) {
		if password == "" {
			return key, fmt.Errorf("%s is encrypted: give its password with --password-file", path)
		}
		key, err = minisign.DecryptKey(password, data)
	} else {
		err = key.UnmarshalText(data)
	}
	if err != nil {
		return key, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// ReadPassword returns the first line of a password file.
func ReadPassword(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", fmt.Errorf("%s: empty password", path)
	}
	return line, nil
}

// Key is a trusted public key and the file it came from.
type Key struct {
	minisign.PublicKey
	File string
}

// LoadPublicKey reads a minisign public key file.
func LoadPublicKey(path string) (Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Key{}, err
	}
	var k minisign.PublicKey
	if err := k.UnmarshalText(bytes.TrimSpace(data)); err != nil {
		return Key{}, fmt.Errorf("%s: %w", path, err)
	}
	return Key{PublicKey: k, File: path}, nil
}

// Sign makes a minisign signature (the pre-hashed algorithm minisign uses
// by default) whose trusted comment names the file, as minisign's does.
func Sign(key minisign.PrivateKey, data []byte, file string) []byte {
	r := minisign.NewReader(bytes.NewReader(data))
	io.Copy(io.Discard, r)
	trusted := "timestamp:" + strconv.FormatInt(time.Now().Unix(), 10) + "\tfile:" + file + "\thashed"
	untrusted := "signature from coimage secret key " + keyID(key.ID())
	return r.SignWithComments(key, trusted, untrusted)
}

// Verify checks sig over data with the first trusted key that has its key
// ID. what names the signed file in errors.
func Verify(keys []Key, data, sig []byte, what string) error {
	if len(keys) == 0 {
		return fmt.Errorf("%s: no trusted public key (add one with --pubkey or to %s): %w", what, ConfigPath(configKeysDir), ErrSignature)
	}
	var s minisign.Signature
	if err := s.UnmarshalText(sig); err != nil {
		return fmt.Errorf("%s.minisig: %v: %w", what, err, ErrSignature)
	}
	for _, k := range keys {
		if k.ID() != s.KeyID {
			continue
		}
		if !minisign.Verify(k.PublicKey, data, sig) {
			return fmt.Errorf("%s: bad signature by key %s (%s): %w", what, keyID(k.ID()), k.File, ErrSignature)
		}
		return nil
	}
	var ids []string
	for _, k := range keys {
		ids = append(ids, keyID(k.ID()))
	}
	return fmt.Errorf("%s: signed by key %s, not a trusted key (%s): %w", what, keyID(s.KeyID), strings.Join(ids, ", "), ErrSignature)
}

func keyID(id uint64) string { return strings.ToUpper(strconv.FormatUint(id, 16)) }
