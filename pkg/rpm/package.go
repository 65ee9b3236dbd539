package rpm

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/colinux-ng/colinux/pkg/pgpverify"
)

// Signature header tags.
const (
	SigDSA     = 267 // OpenPGP signature over the header (DSA, EdDSA)
	SigRSA     = 268 // OpenPGP signature over the header (RSA)
	SigSHA256  = 273 // hex SHA256 of the header
	SigOpenPGP = 278 // rpm 6: base64 OpenPGP signatures over the header
)

// Main header tags.
const (
	TagName              = 1000
	TagVersion           = 1001
	TagRelease           = 1002
	TagEpoch             = 1003
	TagBuildTime         = 1006
	TagArch              = 1022
	TagFileModes         = 1030
	TagFileUserName      = 1039
	TagFileGroupName     = 1040
	TagDirIndexes        = 1116
	TagBaseNames         = 1117
	TagDirNames          = 1118
	TagPayloadFormat     = 1124
	TagPayloadCompressor = 1125
	TagPayloadDigest     = 5092
	TagPayloadDigestAlgo = 5093
)

// digestSHA256 is rpm's (and OpenPGP's) number for SHA256.
const digestSHA256 = 8

// Errors of verification, matched with errors.Is. A bad or missing
// signature wraps pgpverify.ErrSignature as well.
var (
	// ErrUnsigned: the package has no header signature.
	ErrUnsigned = errors.New("RPM package is not signed")
	// ErrDigest: the header or payload does not match its digest.
	ErrDigest = errors.New("RPM digest mismatch")
)

// Package is an opened RPM file.
type Package struct {
	Signature *Header
	Header    *Header
	r         io.ReaderAt
	name      string
	payload   int64 // offset of the compressed payload
	size      int64
}

// leadSize and leadMagic: the obsolete lead, checked only for its magic
// and major version.
const (
	leadSize  = 96
	leadMagic = 0xedabeedb
)

// Open reads the lead and both headers of the size-byte package in r.
// name (a file or URL) labels errors, which wrap ErrFormat.
func Open(r io.ReaderAt, size int64, name string) (*Package, error) {
	var lead [leadSize]byte
	if _, err := r.ReadAt(lead[:], 0); err != nil {
		return nil, fmt.Errorf("%s: lead: %w", name, noEOF(err))
	}
	if binary.BigEndian.Uint32(lead[0:4]) != leadMagic || lead[4] != 3 {
		return nil, fmt.Errorf("%s: not an RPM v3/v4 package (lead magic %x, major %d): %w", name, lead[0:4], lead[4], ErrFormat)
	}
	sig, n, err := readHeader(r, leadSize, size, name+": signature")
	if err != nil {
		return nil, err
	}
	off := leadSize + (n+7)&^7 // the signature header is padded to 8 bytes
	hdr, n, err := readHeader(r, off, size, name)
	if err != nil {
		return nil, err
	}
	p := &Package{Signature: sig, Header: hdr, r: r, name: name, payload: off + n, size: size}
	if p.payload > size {
		return nil, fmt.Errorf("%s: headers end at %d, past the file's %d bytes: %w", name, p.payload, size, ErrFormat)
	}
	if f := hdr.String(TagPayloadFormat); f != "" && f != "cpio" {
		return nil, fmt.Errorf("%s: payload format %q: want cpio: %w", name, f, ErrFormat)
	}
	return p, nil
}

// NEVRA is the package's name-[epoch:]version-release.arch.
func (p *Package) NEVRA() string {
	h := p.Header
	evr := h.String(TagVersion) + "-" + h.String(TagRelease)
	if e, ok := h.Int(TagEpoch); ok && e != 0 {
		evr = fmt.Sprintf("%d:%s", e, evr)
	}
	return h.String(TagName) + "-" + evr + "." + h.String(TagArch)
}

// Verify checks the header's OpenPGP signature against keyring and the
// compressed payload against the SHA256 digest the signed header holds,
// and returns the signer's fingerprint. rpm signs the header only; the
// payload is covered through that digest, so a package without one is
// refused too.
func (p *Package) Verify(keyring openpgp.KeyRing) (string, error) {
	sigs := p.signatures()
	if len(sigs) == 0 {
		return "", fmt.Errorf("%s: %w: %w", p.name, ErrUnsigned, pgpverify.ErrSignature)
	}
	var signer string
	var err error
	for _, sig := range sigs {
		if signer, err = pgpverify.Detached(bytes.NewReader(p.Header.Raw), sig, keyring, p.name+": header"); err == nil {
			break
		}
	}
	if err != nil {
		return "", err
	}
	if want := p.Signature.String(SigSHA256); want != "" {
		if got := sha256.Sum256(p.Header.Raw); hex.EncodeToString(got[:]) != strings.ToLower(want) {
			return "", fmt.Errorf("%s: header SHA256 %x, signature header says %s: %w", p.name, got, want, ErrDigest)
		}
	}
	if algo, _ := p.Header.Int(TagPayloadDigestAlgo); algo != digestSHA256 || len(p.Header.Strings(TagPayloadDigest)) == 0 {
		return "", fmt.Errorf("%s: no SHA256 payload digest in the signed header (algorithm %d): %w", p.name, algo, ErrDigest)
	}
	want := strings.ToLower(p.Header.Strings(TagPayloadDigest)[0])
	h := sha256.New()
	if _, err := io.Copy(h, p.Payload()); err != nil {
		return "", fmt.Errorf("%s: payload: %w", p.name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return "", fmt.Errorf("%s: payload SHA256 %s, the signed header says %s: %w", p.name, got, want, ErrDigest)
	}
	return signer, nil
}

// signatures lists the header signatures the signature header carries.
func (p *Package) signatures() [][]byte {
	var out [][]byte
	for _, tag := range []int32{SigRSA, SigDSA} {
		if b := p.Signature.Bytes(tag); len(b) > 0 {
			out = append(out, b)
		}
	}
	for _, s := range p.Signature.Strings(SigOpenPGP) {
		if b, err := base64.StdEncoding.DecodeString(s); err == nil {
			out = append(out, b)
		}
	}
	return out
}

// Payload is the compressed payload; Compressor names its compression.
// Check it with Verify before trusting it.
func (p *Package) Payload() *io.SectionReader {
	return io.NewSectionReader(p.r, p.payload, p.size-p.payload)
}

// Compressor is the payload's compression: "zstd", "xz", "gzip", "lzma",
// "bzip2"; rpm's default, gzip, when the header names none.
func (p *Package) Compressor() string {
	if c := p.Header.String(TagPayloadCompressor); c != "" {
		return c
	}
	return "gzip"
}

// File is what the header says about one file of the payload.
type File struct {
	Path        string // absolute, "/usr/bin/sh"
	User, Group string
}

// Files lists the header's files in header order, which is the order of
// rpm's file index (the cpio names are these paths with a "." prefix).
func (p *Package) Files() ([]File, error) {
	h := p.Header
	base, dirs, idx := h.Strings(TagBaseNames), h.Strings(TagDirNames), h.Ints(TagDirIndexes)
	users, groups := h.Strings(TagFileUserName), h.Strings(TagFileGroupName)
	if len(idx) != len(base) || len(users) != len(groups) || (len(users) != 0 && len(users) != len(base)) {
		return nil, fmt.Errorf("%s: %d basenames, %d dir indexes, %d users, %d groups: %w", p.name, len(base), len(idx), len(users), len(groups), ErrFormat)
	}
	out := make([]File, len(base))
	for i, b := range base {
		if idx[i] < 0 || idx[i] >= int64(len(dirs)) {
			return nil, fmt.Errorf("%s: file %d: dir index %d of %d: %w", p.name, i, idx[i], len(dirs), ErrFormat)
		}
		out[i].Path = dirs[idx[i]] + b
		if len(users) > 0 {
			out[i].User, out[i].Group = users[i], groups[i]
		}
	}
	return out, nil
}
