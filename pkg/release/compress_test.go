package release

import (
	"bytes"
	"context"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/colinux-ng/colinux/internal/testutil"
)

// Both encoders (libzstd where cgo is on, and the pure-Go one) give frames
// that the stock zstd decodes one by one, holes as one shared frame, and
// the same bytes on a second run.
func TestCompressEncoders(t *testing.T) {
	zstdTool := testutil.RequireTool(t, "zstd")
	const frame = 1 << 20
	raw := make([]byte, 5*frame+frame/2) // frames: random, zeros, text, zeros, zeros, short zeros
	rand.New(rand.NewSource(1)).Read(raw[:frame])
	copy(raw[2*frame:3*frame], bytes.Repeat([]byte("coLinux NG frame test\n"), frame/22))
	encoders := map[string]func(int) (frameEncoder, error){"default": newFrameEncoder, "go": newGoEncoder}
	for name, enc := range encoders {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			compress := func() ([]byte, []Frame) {
				var buf bytes.Buffer
				frames, err := compressFrames(context.Background(), func() (frameEncoder, error) { return enc(DefaultLevel) }, bytes.NewReader(raw), int64(len(raw)), frame, &buf, nil)
				if err != nil {
					t.Fatal(err)
				}
				return buf.Bytes(), frames
			}
			blob, frames := compress()
			if again, _ := compress(); !bytes.Equal(blob, again) {
				t.Fatal("a second run gave other bytes")
			}
			if len(frames) != 6 {
				t.Fatalf("%d frames, want 6", len(frames))
			}
			zf := blob[frames[1].Offset : frames[1].Offset+frames[1].CompressedSize]
			if !bytes.Equal(zf, blob[frames[3].Offset:frames[3].Offset+frames[3].CompressedSize]) {
				t.Error("two all-zero frames of one size differ")
			}
			dir := t.TempDir()
			for i, f := range frames {
				in, out := filepath.Join(dir, "frame.zst"), filepath.Join(dir, "frame")
				os.WriteFile(in, blob[f.Offset:f.Offset+f.CompressedSize], 0o644)
				testutil.Run(t, zstdTool, "-q", "-f", "-d", in, "-o", out)
				want := raw[f.RawOffset : f.RawOffset+f.RawSize]
				if got := mustRead(t, out); !bytes.Equal(got, want) {
					t.Fatalf("frame %d: zstd -d gives %d bytes that differ from the image's %d", i, len(got), len(want))
				}
				if f.SHA256 != sha256Hex(want) || f.CompressedSHA256 != sha256Hex(blob[f.Offset:f.Offset+f.CompressedSize]) {
					t.Errorf("frame %d: wrong SHA256s", i)
				}
			}
			whole := filepath.Join(dir, "whole.zst")
			os.WriteFile(whole, blob, 0o644)
			testutil.Run(t, zstdTool, "-q", "-f", "-d", whole, "-o", filepath.Join(dir, "whole"))
			if !bytes.Equal(mustRead(t, filepath.Join(dir, "whole")), raw) {
				t.Fatal("zstd -d of the whole file differs from the image")
			}
		})
	}
}

// A frame asking for a window larger than ours is refused before any
// decoder allocates it; single-segment frames count their content size.
func TestCheckWindow(t *testing.T) {
	raw := make([]byte, 12<<20)
	rand.New(rand.NewSource(2)).Read(raw[:1<<20])
	for _, tc := range []struct {
		window  int
		content int
		ok      bool
	}{{window, len(raw), true}, {16 << 20, len(raw), false}, {1 << 20, 4 << 20, true}, {16 << 20, window + 1, false}} {
		enc, err := zstd.NewWriter(nil, zstd.WithWindowSize(tc.window), zstd.WithEncoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		frame := enc.EncodeAll(raw[:tc.content], nil)
		err = checkWindow(bytes.NewReader(frame))
		if ok := err == nil; ok != tc.ok || (err != nil && !errors.Is(err, ErrFormat)) {
			t.Errorf("window %d, content %d: %v", tc.window, tc.content, err)
		}
	}
	if err := checkWindow(bytes.NewReader([]byte("not zstd at all"))); !errors.Is(err, ErrFormat) {
		t.Errorf("no frame: %v", err)
	}
}
