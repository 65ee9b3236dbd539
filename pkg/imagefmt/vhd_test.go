package imagefmt

import (
	"encoding/binary"
	"testing"
)

func TestVHDMatchesQemu(t *testing.T) {
	src, _ := writeRawFixture(t, t.TempDir())
	for _, tc := range []struct {
		name, subformat, creator string
		opts                     []string
	}{
		{"dynamic", "dynamic", "qemu", nil},
		{"fixed", "fixed", "qemu", []string{"-o", "subformat=fixed"}},
		// force_size records the creator "qem2", whose size field counts.
		{"dynamic-force-size", "dynamic", "qem2", []string{"-o", "force_size=on"}},
		{"fixed-force-size", "fixed", "qem2", []string{"-o", "subformat=fixed,force_size=on"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := convertTo(t, src, VHD, "disk.vhd", tc.opts...)
			det := checkAgainstQemu(t, path, VHD)
			if det.Subformat != tc.subformat || det.Creator != tc.creator {
				t.Errorf("details %+v, want subformat %s, creator %s", det, tc.subformat, tc.creator)
			}
		})
	}
}

// TestVHDSizeRule checks the creators whose size field QEMU trusts over
// the CHS geometry: the same footer, relabelled, changes the size.
func TestVHDSizeRule(t *testing.T) {
	src, _ := writeRawFixture(t, t.TempDir())
	for _, creator := range []string{"win ", "d2v ", "vpc ", "CTXS"} {
		t.Run(creator, func(t *testing.T) {
			path := convertTo(t, src, VHD, "disk.vhd", "-o", "subformat=fixed,force_size=on")
			b := readFile(t, path)
			footer := b[len(b)-512:]
			copy(footer[28:32], creator)
			binary.BigEndian.PutUint32(footer[64:], vhdChecksum(footer, 64))
			path = writeFile(t, "disk.vhd", b)
			checkAgainstQemu(t, path, VHD)
		})
	}
}

func TestVHDHostile(t *testing.T) {
	src, _ := writeRawFixture(t, t.TempDir())
	dynamic := readFile(t, convertTo(t, src, VHD, "disk.vhd"))
	be := binary.BigEndian
	// edit changes a copy of the dynamic image and reseals what it touched.
	edit := func(f func(b []byte)) []byte {
		b := append([]byte(nil), dynamic...)
		f(b)
		binary.BigEndian.PutUint32(b[64:], vhdChecksum(b[:512], 64))
		binary.BigEndian.PutUint32(b[512+36:], vhdChecksum(b[512:1536], 36))
		return b
	}
	bat := int(be.Uint64(dynamic[512+16:]))
	for _, tc := range []struct {
		name      string
		image     []byte
		sentinel  error
		fragments []string
	}{
		{"footer-checksum", func() []byte { b := append([]byte(nil), dynamic...); b[100] ^= 1; return b }(),
			ErrFormat, []string{"footer at 0x0 has checksum"}},
		{"header-checksum", func() []byte { b := append([]byte(nil), dynamic...); b[512+100] ^= 1; return b }(),
			ErrFormat, []string{"dynamic disk header at 0x200 has checksum"}},
		{"bat-entry-past-eof", edit(func(b []byte) { be.PutUint32(b[bat:], 0x7fffff00) }),
			ErrFormat, []string{"block 0 at", "past the end of the file"}},
		{"huge-table", edit(func(b []byte) { be.PutUint32(b[512+28:], 0xffffffff); be.PutUint64(b[512+16:], 1<<40) }),
			ErrFormat, []string{"block allocation table at 0x10000000000"}},
		{"table-too-small", edit(func(b []byte) { be.PutUint32(b[512+28:], 1) }),
			ErrFormat, []string{"too small"}},
		{"block-size", edit(func(b []byte) { be.PutUint32(b[512+32:], 3<<20) }),
			ErrFormat, []string{"block size 3145728"}},
		{"differencing", edit(func(b []byte) { be.PutUint32(b[60:], vhdDifferencing) }),
			ErrUnsupported, []string{"differencing"}},
		{"truncated", dynamic[:len(dynamic)/2], ErrFormat, []string{"truncated"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkHostile(t, writeFile(t, "bad.vhd", tc.image), tc.sentinel, tc.fragments...)
		})
	}
}
