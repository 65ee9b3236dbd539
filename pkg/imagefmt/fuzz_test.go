package imagefmt

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
)

// buildQCOW2 builds a small qcow2 image in memory with 512-byte clusters:
// contiguous and scattered data clusters, two compressed clusters packed
// back to back mid-sector, a zero-flagged cluster (version 3), an
// unallocated L2 range and a partial last cluster. It returns the image
// and the virtual disk it holds.
func buildQCOW2(t testing.TB, version uint32, compression uint8) (img, disk []byte) {
	const (
		cb   = 9
		cs   = 1 << cb
		size = 2*64*cs + 300 // three L1 entries; the last cluster is partial
	)
	disk = make([]byte, size)
	img = make([]byte, 4*cs) // header, L1, two L2 tables
	be := binary.BigEndian
	copy(img, qcow2Magic)
	be.PutUint32(img[4:], version)
	be.PutUint32(img[20:], cb)
	be.PutUint64(img[24:], size)
	be.PutUint32(img[36:], 3)
	be.PutUint64(img[40:], cs)
	if version == 3 {
		be.PutUint32(img[100:], 112)
		img[104] = compression
		if compression != 0 {
			be.PutUint64(img[72:], qcow2CompressType)
		}
	}
	be.PutUint64(img[cs:], 1<<63|2*cs)
	be.PutUint64(img[cs+16:], 1<<63|3*cs)

	fill := func(vc int, seed byte) []byte {
		b := disk[vc*cs : min(vc*cs+cs, size)]
		for i := range b {
			b[i] = seed + byte(i*7)
		}
		return append(b[:len(b):len(b)], make([]byte, cs-len(b))...)
	}
	l2 := func(table, i int, entry uint64) { be.PutUint64(img[(2+table)*cs+8*i:], entry) }
	data := func(table, i, vc int, seed byte) {
		l2(table, i, 1<<63|uint64(len(img)))
		img = append(img, fill(vc, seed)...)
	}
	data(0, 0, 0, 1)
	data(0, 1, 1, 2) // contiguous with cluster 0
	data(0, 5, 5, 3)
	data(1, 0, 128, 4) // the partial last cluster

	compress := func(b []byte) []byte {
		var buf bytes.Buffer
		if compression == 1 {
			enc, err := zstd.NewWriter(nil)
			if err != nil {
				t.Fatal(err)
			}
			defer enc.Close()
			return enc.EncodeAll(b, nil)
		}
		w, err := flate.NewWriter(&buf, flate.BestCompression)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	if version == 3 {
		data(0, 12, 12, 5)
		l2(0, 12, be.Uint64(img[2*cs+8*12:])|qcow2ZeroFlag)
		clear(disk[12*cs : 13*cs])
	}
	img = append(img, make([]byte, 100)...) // start mid-sector
	for i, vc := range []int{8, 9} {
		copy(disk[vc*cs:], bytes.Repeat([]byte{'a' + byte(i), 'z'}, cs/2))
		c := compress(disk[vc*cs : vc*cs+cs])
		host := uint64(len(img))
		sectors := (host%512 + uint64(len(c)) + 511) / 512
		l2(0, vc, 1<<62|(sectors-1)<<(62-(cb-8))|host)
		img = append(img, c...)
	}
	// The file ends with the last compressed cluster, short of the end
	// of its last sector.
	return img, disk
}

func TestQCOW2Built(t *testing.T) {
	for _, tc := range []struct {
		name        string
		version     uint32
		compression uint8
	}{{"v2", 2, 0}, {"v3-zlib", 3, 0}, {"v3-zstd", 3, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			img, want := buildQCOW2(t, tc.version, tc.compression)
			d, err := NewQCOW2(bytes.NewReader(img), int64(len(img)))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			checkDisk(t, d, want)
		})
	}
}

func FuzzQCOW2(f *testing.F) {
	for _, v := range []uint32{2, 3} {
		for _, c := range []uint8{0, 1} {
			if v == 2 && c == 1 {
				continue
			}
			img, _ := buildQCOW2(f, v, c)
			f.Add(img)
		}
	}
	f.Fuzz(func(t *testing.T, img []byte) {
		d, err := NewQCOW2(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			return
		}
		defer d.Close()
		exerciseDisk(t, d)
	})
}
