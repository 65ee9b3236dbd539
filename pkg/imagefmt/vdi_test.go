package imagefmt

import (
	"encoding/binary"
	"testing"
)

func TestVDIMatchesQemu(t *testing.T) {
	src, _ := writeRawFixture(t, t.TempDir())
	for _, tc := range []struct {
		name, subformat string
		opts            []string
	}{
		{"dynamic", "dynamic", nil},
		{"static", "static", []string{"-o", "static=on"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			det := checkAgainstQemu(t, convertTo(t, src, VDI, "disk.vdi", tc.opts...), VDI)
			if det.Subformat != tc.subformat || det.BlockSize != 1<<20 || det.Creator == "" {
				t.Errorf("details %+v", det)
			}
		})
	}
}

func TestVDIHostile(t *testing.T) {
	src, _ := writeRawFixture(t, t.TempDir())
	good := readFile(t, convertTo(t, src, VDI, "disk.vdi"))
	le := binary.LittleEndian
	edit := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	bmap := int(le.Uint32(good[0x154:]))
	for _, tc := range []struct {
		name      string
		image     []byte
		sentinel  error
		fragments []string
	}{
		{"map-entry-out-of-range", edit(func(b []byte) { le.PutUint32(b[bmap:], 5000) }),
			ErrFormat, []string{"block map entry 0 points to block 5000"}},
		{"block-past-eof", good[:len(good)-(1<<20)], ErrFormat, []string{"past the end of the file"}},
		{"huge-block-count", edit(func(b []byte) { le.PutUint32(b[0x180:], 0xffffffff) }),
			ErrUnsupported, []string{"larger than 64 MiB"}},
		{"map-past-eof", edit(func(b []byte) { le.PutUint32(b[0x154:], 0x7ffffe00) }),
			ErrFormat, []string{"block map at 0x7ffffe00"}},
		{"block-size", edit(func(b []byte) { le.PutUint32(b[0x178:], 3<<19) }),
			ErrFormat, []string{"block size 1572864"}},
		{"parent", edit(func(b []byte) { b[0x1b8] = 1 }),
			ErrUnsupported, []string{"parent"}},
		{"version", edit(func(b []byte) { le.PutUint32(b[0x44:], 0x00020000) }),
			ErrUnsupported, []string{"header version 2.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkHostile(t, writeFile(t, "bad.vdi", tc.image), tc.sentinel, tc.fragments...)
		})
	}
}
