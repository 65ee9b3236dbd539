package inflate

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// sample is 64 KiB that compresses but not to nothing: text-like runs
// mixed with random bytes.
func sample(seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, 64<<10)
	for i := range b {
		if i%512 < 200 {
			b[i] = byte(r.IntN(256))
		} else {
			b[i] = "the quick brown fox "[i%20]
		}
	}
	return b
}

func deflated(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, 6)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zlibbed(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestRaw(t *testing.T) {
	if !Available {
		t.Skip("built without libdeflate (no cgo or the purego tag)")
	}
	want := sample(1)
	z := deflated(t, want)
	out := make([]byte, len(want))
	// qcow2 clusters are followed by whatever comes next in the file.
	if !Raw(out, append(z, bytes.Repeat([]byte{0xa5}, 700)...)) || !bytes.Equal(out, want) {
		t.Fatal("a valid stream with trailing bytes did not decompress to its data")
	}
	if Raw(make([]byte, len(want)+1), z) {
		t.Error("a stream shorter than out was accepted")
	}
	if Raw(make([]byte, len(want)-1), z) {
		t.Error("a stream longer than out was accepted")
	}
	if Raw(out, z[:len(z)/2]) {
		t.Error("a cut stream was accepted")
	}
	bad := bytes.Clone(z)
	bad[0] |= 6 // block type 3, reserved
	if Raw(out, bad) {
		t.Error("a stream with a reserved block type was accepted")
	}
}

func TestZlib(t *testing.T) {
	if !Available {
		t.Skip("built without libdeflate (no cgo or the purego tag)")
	}
	want := sample(2)
	z := zlibbed(want)
	out := make([]byte, len(want)+100)
	n, ok := Zlib(out, z)
	if !ok || n != len(want) || !bytes.Equal(out[:n], want) {
		t.Fatalf("a valid stream gave %d bytes, ok %v", n, ok)
	}
	if _, ok := Zlib(out[:len(want)-1], z); ok {
		t.Error("a stream longer than out was accepted")
	}
	bad := bytes.Clone(z)
	bad[len(bad)-1] ^= 1 // Adler-32
	if _, ok := Zlib(out, bad); ok {
		t.Error("a stream with a wrong checksum was accepted")
	}
}

// FuzzRaw checks libdeflate against Go's decoder: whatever Raw accepts,
// Go's decoder reads as the same bytes, or refuses as invalid. libdeflate
// reads some streams that break RFC 1951 where zlib and Go stop (a fixed
// Huffman block using length symbol 286, testdata/fuzz/FuzzRaw); a short
// stream, or one that says other bytes, it must never accept.
func FuzzRaw(f *testing.F) {
	f.Add(deflated(f, sample(3)[:5000]), 5000)
	f.Add(deflated(f, []byte("hello")), 5)
	f.Fuzz(func(t *testing.T, in []byte, n int) {
		if n <= 0 || n > 1<<16 {
			return
		}
		out := make([]byte, n)
		if !Raw(out, in) {
			return
		}
		want := make([]byte, n)
		_, err := io.ReadFull(flate.NewReader(bytes.NewReader(in)), want)
		var invalid flate.CorruptInputError
		switch {
		case errors.As(err, &invalid):
		case err != nil:
			t.Fatalf("libdeflate accepted a stream Go cannot read to the end: %v", err)
		case !bytes.Equal(out, want):
			t.Fatal("libdeflate and Go read different bytes")
		}
	})
}

// FuzzZlib likewise for zlib streams.
func FuzzZlib(f *testing.F) {
	f.Add(zlibbed(sample(4)[:5000]), 5000)
	f.Fuzz(func(t *testing.T, in []byte, n int) {
		if n <= 0 || n > 1<<16 {
			return
		}
		out := make([]byte, n)
		k, ok := Zlib(out, in)
		if !ok {
			return
		}
		r, err := zlib.NewReader(bytes.NewReader(in))
		if err != nil {
			t.Fatalf("libdeflate accepted a stream Go refuses: %v", err)
		}
		want, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(out[:k], want) {
			t.Fatalf("libdeflate accepted what Go reads differently (%v)", err)
		}
	})
}

func BenchmarkRaw(b *testing.B) {
	want := sample(5)
	z := deflated(b, want)
	out := make([]byte, len(want))
	b.SetBytes(int64(len(want)))
	for b.Loop() {
		if !Raw(out, z) {
			b.Fatal("no")
		}
	}
}
