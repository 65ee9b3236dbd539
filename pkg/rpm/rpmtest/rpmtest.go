// Package rpmtest writes signed RPM packages for tests: the real v4
// layout (lead, signature header with a header-only OpenPGP signature and
// SHA256, main header with immutable region, file list, dependencies and
// payload digest, zstd/xz/gzip cpio payload), readable by the host's rpm.
package rpmtest

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/colinux-ng/colinux/pkg/pgpverify/pgptest"
)

// File is one file of a package. A Path ending in "/" is a directory.
type File struct {
	Path        string // absolute: "/usr/bin/sh", "/etc/"
	Body        string
	Link        string // symlink target
	Mode        uint32 // permission bits; 0 means 0644 (0755 for directories)
	User, Group string // default root
	// Ino > 0 puts the file in a hard link set with the others of that
	// Ino; rpm stores the data with the set's last name only.
	Ino int
}

// Spec describes a package.
type Spec struct {
	Name, Version, Release, Arch string
	Epoch                        int      // 0: none
	Provides, Requires           []string // "name" or "name >= 1.2-3"
	Recommends                   []string
	Conflicts, Obsoletes         []string // in the repository's metadata only
	Files                        []File
	BuildTime                    int64
	Compressor                   string // zstd (default), xz or gzip

	// For tests of refusals, in WriteRepo: sign with Key instead of the
	// repository's, or not at all, or store Data instead of the package.
	Key      *pgptest.Key
	Unsigned bool
	Data     []byte
}

// NEVRA is the package's full name.
func (s Spec) NEVRA() string {
	return s.Name + "-" + s.evr() + "." + s.Arch
}

// FileName is the package's file name as repositories use it.
func (s Spec) FileName() string {
	return s.Name + "-" + s.Version + "-" + s.Release + "." + s.Arch + ".rpm"
}

func (s Spec) evr() string {
	evr := s.Version + "-" + s.Release
	if s.Epoch != 0 {
		evr = fmt.Sprintf("%d:%s", s.Epoch, evr)
	}
	return evr
}

// Header data types and tags written here (rpm's lib/rpmtag.h).
const (
	tInt16 = 3
	tInt32 = 4
	tStr   = 6
	tBin   = 7
	tArr   = 8
)

// Build writes the package signed by key (nil: unsigned).
func Build(t testing.TB, s Spec, key *pgptest.Key) []byte {
	t.Helper()
	if s.Compressor == "" {
		s.Compressor = "zstd"
	}
	s.Files = append([]File(nil), s.Files...)
	sort.Slice(s.Files, func(i, j int) bool {
		return strings.TrimSuffix(s.Files[i].Path, "/") < strings.TrimSuffix(s.Files[j].Path, "/")
	})
	payload, rawSize := compress(t, s.Compressor, cpio(s.Files, s.BuildTime))
	sum := sha256.Sum256(payload)

	h := &header{region: 63}
	h.str(1000, tStr, s.Name)
	h.str(1001, tStr, s.Version)
	h.str(1002, tStr, s.Release)
	if s.Epoch != 0 {
		h.i32(1003, uint32(s.Epoch))
	}
	h.str(1004, tStr, "fixture package "+s.Name) // summary
	h.i32(1006, uint32(s.BuildTime))
	var total uint32
	for _, f := range s.Files {
		total += uint32(len(f.Body))
	}
	h.i32(1009, total)
	h.str(1014, tStr, "MIT") // license
	h.str(1021, tStr, "linux")
	h.str(1022, tStr, s.Arch)
	files(h, s)
	h.str(1044, tStr, s.Name+"-"+s.Version+"-"+s.Release+".src.rpm")
	provides := append([]string{s.Name + " = " + s.evr()}, s.Provides...)
	deps(h, 1047, 1112, 1113, provides)
	deps(h, 1049, 1048, 1050, s.Requires)
	h.str(1064, tStr, "4.18.0")
	h.str(1124, tStr, "cpio")
	h.str(1125, tStr, s.Compressor)
	h.str(1126, tStr, "3")
	h.i32(5011, 8) // file digest algorithm: SHA256
	h.str(5092, tArr, hex.EncodeToString(sum[:]))
	h.i32(5093, 8)
	main := h.bytes()

	sig := &header{region: 62}
	if key != nil {
		var b bytes.Buffer
		if err := openpgp.DetachSign(&b, key.Entity, bytes.NewReader(main), nil); err != nil {
			t.Fatal(err)
		}
		tag := uint32(268) // RSA; rpm files EdDSA and DSA under 267
		if key.Entity.PrimaryKey.PubKeyAlgo != 1 {
			tag = 267
		}
		sig.add(tag, tBin, uint32(b.Len()), b.Bytes(), 1)
	}
	hs := sha256.Sum256(main)
	sig.str(273, tStr, hex.EncodeToString(hs[:]))
	sig.i32(1000, uint32(len(main)+len(payload)))
	sig.i32(1007, uint32(rawSize))
	sigBytes := sig.bytes()

	var out bytes.Buffer
	out.Write(lead(s))
	out.Write(sigBytes)
	out.Write(make([]byte, (8-len(sigBytes)%8)%8))
	out.Write(main)
	out.Write(payload)
	return out.Bytes()
}

// files writes the file list tags; Build sorted them by path, as rpm does.
func files(h *header, s Spec) {
	fs := s.Files
	if len(fs) == 0 {
		return
	}
	var sizes, mtimes, flags, inodes, devices []uint32
	var modes, rdevs []uint16
	var digests, links, users, groups, langs, bases []string
	var dirs []string
	var dirIdx []uint32
	for i, f := range fs {
		p := strings.TrimSuffix(f.Path, "/")
		mode := fileMode(f)
		sizes = append(sizes, uint32(len(f.Body)))
		mtimes = append(mtimes, uint32(s.BuildTime))
		flags = append(flags, 0)
		inodes = append(inodes, uint32(i+1))
		devices = append(devices, 1)
		modes = append(modes, uint16(mode))
		rdevs = append(rdevs, 0)
		d := ""
		if mode&0o170000 == 0o100000 {
			s := sha256.Sum256([]byte(f.Body))
			d = hex.EncodeToString(s[:])
		}
		digests = append(digests, d)
		links = append(links, f.Link)
		users = append(users, or(f.User, "root"))
		groups = append(groups, or(f.Group, "root"))
		langs = append(langs, "")
		dir := path.Dir(p)
		if dir != "/" {
			dir += "/"
		}
		j := indexOf(dirs, dir)
		if j < 0 {
			dirs, j = append(dirs, dir), len(dirs)
		}
		dirIdx = append(dirIdx, uint32(j))
		bases = append(bases, path.Base(p))
	}
	h.i32s(1028, sizes)
	h.i16s(1030, modes)
	h.i16s(1033, rdevs)
	h.i32s(1034, mtimes)
	h.strs(1035, digests)
	h.strs(1036, links)
	h.i32s(1037, flags)
	h.strs(1039, users)
	h.strs(1040, groups)
	h.i32s(1095, devices)
	h.i32s(1096, inodes)
	h.strs(1097, langs)
	h.i32s(1116, dirIdx)
	h.strs(1117, bases)
	h.strs(1118, dirs)
}

// deps writes a dependency list: "name", or "name OP evr".
func deps(h *header, nameTag, flagTag, verTag uint32, list []string) {
	if len(list) == 0 {
		return
	}
	var names, vers []string
	var flags []uint32
	for _, d := range list {
		f := strings.Fields(d)
		names = append(names, f[0])
		if len(f) == 3 {
			vers = append(vers, f[2])
			flags = append(flags, map[string]uint32{"<": 2, ">": 4, "=": 8, "<=": 10, ">=": 12}[f[1]])
		} else {
			vers = append(vers, "")
			flags = append(flags, 0)
		}
	}
	h.strs(nameTag, names)
	h.i32s(flagTag, flags)
	h.strs(verTag, vers)
}

func fileMode(f File) uint32 {
	switch {
	case f.Link != "":
		return 0o120777
	case strings.HasSuffix(f.Path, "/"):
		return 0o40000 | orMode(f.Mode, 0o755)
	}
	return 0o100000 | orMode(f.Mode, 0o644)
}

// cpio writes the newc archive rpm puts in a payload.
func cpio(fs []File, mtime int64) []byte {
	var b bytes.Buffer
	entry := func(ino, nlink int, name string, mode uint32, body string) {
		fmt.Fprintf(&b, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
			ino, mode, 0, 0, nlink, mtime, len(body), 0, 0, 0, 0, len(name)+1, 0)
		b.WriteString(name + "\x00")
		pad(&b)
		b.WriteString(body)
		pad(&b)
	}
	links, last := map[int]int{}, map[int]int{}
	for i, f := range fs {
		if f.Ino > 0 {
			links[f.Ino]++
			last[f.Ino] = i
		}
	}
	for i, f := range fs {
		body, ino, nlink := f.Body, 1000+i, 1
		if f.Link != "" {
			body = f.Link
		}
		if f.Ino > 0 {
			ino, nlink = f.Ino, links[f.Ino]
			if last[f.Ino] != i {
				body = ""
			}
		}
		entry(ino, nlink, "."+strings.TrimSuffix(f.Path, "/"), fileMode(f), body)
	}
	entry(0, 1, "TRAILER!!!", 0, "")
	return b.Bytes()
}

func pad(b *bytes.Buffer) {
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
}

func compress(t testing.TB, algo string, data []byte) ([]byte, int) {
	t.Helper()
	var b bytes.Buffer
	var err error
	switch algo {
	case "zstd":
		var w *zstd.Encoder
		if w, err = zstd.NewWriter(&b); err == nil {
			w.Write(data)
			err = w.Close()
		}
	case "xz":
		var w *xz.Writer
		if w, err = xz.NewWriter(&b); err == nil {
			w.Write(data)
			err = w.Close()
		}
	case "gzip":
		w := gzip.NewWriter(&b)
		w.Write(data)
		err = w.Close()
	default:
		err = fmt.Errorf("compressor %q", algo)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), len(data)
}

// lead is the 96-byte lead: magic, version 3.0, binary, the name.
func lead(s Spec) []byte {
	l := make([]byte, 96)
	copy(l, []byte{0xed, 0xab, 0xee, 0xdb, 3, 0, 0, 0, 0, 1})
	copy(l[10:75], s.NEVRA())
	binary.BigEndian.PutUint16(l[76:], 1) // os: Linux
	binary.BigEndian.PutUint16(l[78:], 5) // signature type: header-style
	return l
}

// header collects entries and lays them out as rpm does: the region
// entry first, values aligned to their width, the region trailer last.
type header struct {
	region  uint32
	entries []hentry
}

type hentry struct {
	tag, typ, count uint32
	data            []byte
	align           int
}

func (h *header) add(tag, typ, count uint32, data []byte, align int) {
	h.entries = append(h.entries, hentry{tag, typ, count, data, align})
}

func (h *header) str(tag, typ uint32, s string) { h.add(tag, typ, 1, []byte(s+"\x00"), 1) }

func (h *header) strs(tag uint32, ss []string) {
	h.add(tag, tArr, uint32(len(ss)), []byte(strings.Join(ss, "\x00")+"\x00"), 1)
}

func (h *header) i32(tag, v uint32) { h.i32s(tag, []uint32{v}) }

func (h *header) i32s(tag uint32, vs []uint32) {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.BigEndian.PutUint32(b[4*i:], v)
	}
	h.add(tag, tInt32, uint32(len(vs)), b, 4)
}

func (h *header) i16s(tag uint32, vs []uint16) {
	b := make([]byte, 2*len(vs))
	for i, v := range vs {
		binary.BigEndian.PutUint16(b[2*i:], v)
	}
	h.add(tag, tInt16, uint32(len(vs)), b, 2)
}

func (h *header) bytes() []byte {
	sort.Slice(h.entries, func(i, j int) bool { return h.entries[i].tag < h.entries[j].tag })
	var data bytes.Buffer
	il := uint32(len(h.entries) + 1)
	index := make([]byte, 0, il*16)
	put := func(tag, typ, off, count uint32) {
		index = binary.BigEndian.AppendUint32(index, tag)
		index = binary.BigEndian.AppendUint32(index, typ)
		index = binary.BigEndian.AppendUint32(index, off)
		index = binary.BigEndian.AppendUint32(index, count)
	}
	var rest []byte
	for _, e := range h.entries {
		for data.Len()%e.align != 0 {
			data.WriteByte(0)
		}
		rest = binary.BigEndian.AppendUint32(rest, e.tag)
		rest = binary.BigEndian.AppendUint32(rest, e.typ)
		rest = binary.BigEndian.AppendUint32(rest, uint32(data.Len()))
		rest = binary.BigEndian.AppendUint32(rest, e.count)
		data.Write(e.data)
	}
	put(h.region, tBin, uint32(data.Len()), 16)
	index = append(index, rest...)
	// the trailer: the region tag again, offset minus the index length
	binary.Write(&data, binary.BigEndian, []uint32{h.region, tBin, uint32(-int32(il * 16)), 16})
	out := binary.BigEndian.AppendUint32(nil, 0x8eade801)
	out = append(out, 0, 0, 0, 0)
	out = binary.BigEndian.AppendUint32(out, il)
	out = binary.BigEndian.AppendUint32(out, uint32(data.Len()))
	out = append(out, index...)
	return append(out, data.Bytes()...)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orMode(m, def uint32) uint32 {
	if m == 0 {
		return def
	}
	return m
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}
