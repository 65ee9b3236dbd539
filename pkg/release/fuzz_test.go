package release

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// validIndex is a small index that ParseIndex accepts.
func validIndex() *Index {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	frames := []FrameDigest{{CompressedSize: 100, CompressedSHA256: sha256Hex([]byte("c")), Size: testFrame, SHA256: sha256Hex([]byte("r"))},
		{CompressedSize: 50, CompressedSHA256: sha256Hex([]byte("d")), Size: 4096, SHA256: sha256Hex([]byte("s"))}}
	return &Index{Schema: SchemaVersion, Generated: now, Expires: now.Add(time.Hour), Images: []Image{{
		Name: "debian-12", Aliases: []string{"debian-bookworm"}, OS: "debian", Release: "bookworm", Arch: "amd64",
		Serial: 20261201000000, Created: now, Format: FormatCobdExt4, Size: testFrame + 4096, SHA256: sha256Hex([]byte("raw")),
		Path: "images/debian-12/1/debian-12.img.zst", CompressedSize: 150 + seekTableSize(2), CompressedSHA256: sha256Hex([]byte("z")),
		FrameSize: testFrame, Frames: frames,
	}}}
}

func TestParseIndex(t *testing.T) {
	good := validIndex().Marshal()
	if _, err := ParseIndex(good, "index.json"); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(ix *Index){
		"schema":     func(ix *Index) { ix.Schema = 2 },
		"expiry":     func(ix *Index) { ix.Expires = ix.Generated },
		"name":       func(ix *Index) { ix.Images[0].Name = "Debian 12" },
		"format":     func(ix *Index) { ix.Images[0].Format = "qcow2" },
		"sha256":     func(ix *Index) { ix.Images[0].SHA256 = "abc" },
		"frames sum": func(ix *Index) { ix.Images[0].Size++ },
		"frame size": func(ix *Index) { ix.Images[0].Frames[0].Size = 4096 },
		"no frames":  func(ix *Index) { ix.Images[0].Frames = nil },
		"compressed": func(ix *Index) { ix.Images[0].CompressedSize++ },
		"dup":        func(ix *Index) { ix.Images = append(ix.Images, ix.Images[0]) },
		"alias clash": func(ix *Index) {
			im := ix.Images[0]
			im.Name, im.Aliases = "other", []string{"debian-12"}
			ix.Images = append(ix.Images, im)
		},
		"path dotdot":   func(ix *Index) { ix.Images[0].Path = "a/../../b" },
		"path absolute": func(ix *Index) { ix.Images[0].Path = "/b" },
		"path url":      func(ix *Index) { ix.Images[0].Path = "https://x/b" },
		"serial":        func(ix *Index) { ix.Images[0].Serial = 0 },
	} {
		ix := validIndex()
		edit(ix)
		if _, err := ParseIndex(ix.Marshal(), "index.json"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ParseIndex(append(good, []byte(`{}`)...), "index.json"); !errors.Is(err, ErrFormat) {
		t.Errorf("trailing data: %v", err)
	}
	if _, err := ParseIndex(bytes.Replace(good, []byte(`"schema"`), []byte(`"extra": 1, "schema"`), 1), "index.json"); !errors.Is(err, ErrFormat) {
		t.Errorf("unknown field: %v", err)
	}
}

func FuzzParseIndex(f *testing.F) {
	f.Add(validIndex().Marshal())
	f.Add([]byte(`{"schema":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ix, err := ParseIndex(data, "index.json")
		if err != nil {
			return
		}
		// What parses re-encodes to an index that parses the same.
		again, err := ParseIndex(ix.Marshal(), "index.json")
		if err != nil {
			t.Fatalf("re-encoded index refused: %v", err)
		}
		a, _ := json.Marshal(ix)
		b, _ := json.Marshal(again)
		if !bytes.Equal(a, b) {
			t.Fatal("re-encoded index differs")
		}
		for _, im := range ix.Images {
			if _, err := resolvePath("https://h.example/dir/index.json", im.Path); err != nil {
				t.Fatalf("checked path %q does not resolve: %v", im.Path, err)
			}
			frames := im.frameTable()
			if l := frames[len(frames)-1]; l.RawOffset+l.RawSize != im.Size {
				t.Fatal("frames do not tile the image")
			}
		}
	})
}

func TestSeekTableRoundTrip(t *testing.T) {
	frames := []Frame{{Offset: 0, CompressedSize: 10, RawOffset: 0, RawSize: 100}, {Offset: 10, CompressedSize: 5, RawOffset: 100, RawSize: 7}}
	blob := append(bytes.Repeat([]byte{1}, 15), appendSeekTable(nil, frames)...)
	got, err := ReadSeekTable(bytes.NewReader(blob), int64(len(blob)), "x")
	if err != nil || len(got) != 2 || got[1] != frames[1] {
		t.Fatalf("%+v, %v", got, err)
	}
	if err := sameFrames(got, frames, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSeekTable(bytes.NewReader(blob[1:]), int64(len(blob)-1), "x"); !errors.Is(err, ErrFormat) {
		t.Fatalf("shifted table: %v", err)
	}
}

func FuzzReadSeekTable(f *testing.F) {
	f.Add(append(bytes.Repeat([]byte{1}, 15), appendSeekTable(nil, []Frame{{CompressedSize: 10, RawSize: 100}, {Offset: 10, CompressedSize: 5, RawSize: 7}})...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		frames, err := ReadSeekTable(bytes.NewReader(data), int64(len(data)), "x")
		if err != nil {
			return
		}
		var end int64
		for _, fr := range frames {
			if fr.Offset != end || fr.CompressedSize <= 0 {
				t.Fatalf("frames do not tile: %+v", frames)
			}
			end += fr.CompressedSize
		}
		if end+seekTableSize(len(frames)) > int64(len(data)) {
			t.Fatal("frames run past the table")
		}
	})
}

func TestParseSums(t *testing.T) {
	s := Sums{"index.json": sha256Hex([]byte("a")), "images/x/1/x.img.zst": sha256Hex([]byte("b"))}
	got, err := ParseSums(s.Marshal(), "SHA256SUMS")
	if err != nil || len(got) != 2 || got["index.json"] != s["index.json"] {
		t.Fatalf("%v, %v", got, err)
	}
	for _, bad := range []string{"zz  x\n", sha256Hex(nil) + "  ../x\n", sha256Hex(nil) + " x\n", sha256Hex(nil) + "  x\n" + sha256Hex(nil) + "  x\n", "\\" + sha256Hex(nil) + "  x\\n\n"} {
		if _, err := ParseSums([]byte(bad), "SHA256SUMS"); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if got, err := ParseSums([]byte(sha256Hex(nil)+" *bin\n"), "SHA256SUMS"); err != nil || got["bin"] == "" {
		t.Errorf("binary-mode line: %v", err)
	}
}

func FuzzParseSums(f *testing.F) {
	f.Add(Sums{"index.json": sha256Hex(nil), "a/b.zst": sha256Hex([]byte("x"))}.Marshal())
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSums(data, "SHA256SUMS")
		if err != nil {
			return
		}
		again, err := ParseSums(s.Marshal(), "SHA256SUMS")
		if err != nil || len(again) != len(s) {
			t.Fatalf("re-encoded sums: %v", err)
		}
		for p, sum := range s {
			if again[p] != sum || checkPath(p) != nil {
				t.Fatalf("%q", p)
			}
		}
	})
}

func imageManifestJSON(artifactType string) []byte {
	m := map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "artifactType": artifactType,
		"config": map[string]any{"mediaType": ConfigMediaType, "digest": "sha256:" + sha256Hex(nil), "size": 10},
		"layers": []any{map[string]any{"mediaType": LayerMediaType, "digest": "sha256:" + sha256Hex([]byte("l")), "size": 1000,
			"annotations": map[string]string{"org.opencontainers.image.title": "x.img.zst"}}},
	}
	data, _ := json.Marshal(m)
	return data
}

func TestParseManifest(t *testing.T) {
	if _, err := parseManifest(imageManifestJSON(ArtifactType), imageArtifact, "ref"); err != nil {
		t.Fatal(err)
	}
	if _, err := parseManifest(imageManifestJSON("application/vnd.other"), imageArtifact, "ref"); err == nil || !strings.Contains(err.Error(), "artifact type") {
		t.Fatalf("other artifact type: %v", err)
	}
	bad := bytes.Replace(imageManifestJSON(ArtifactType), []byte(`"size":1000`), []byte(`"size":-1`), 1)
	if _, err := parseManifest(bad, imageArtifact, "ref"); !errors.Is(err, ErrFormat) {
		t.Fatalf("negative size: %v", err)
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add(imageManifestJSON(ArtifactType))
	f.Add([]byte(`{"schemaVersion":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, kind := range []artifactKind{imageArtifact, signatureArtifact} {
			m, err := parseManifest(data, kind, "ref")
			if err != nil {
				continue
			}
			if len(m.Layers) != 1 || m.Layers[0].Size > kind.maxLayer || m.Config.Size > maxIndexBytes || m.Layers[0].Digest.Validate() != nil {
				t.Fatalf("accepted %s", data)
			}
		}
	})
}

// FuzzDecodeFrame: any bytes, through the window check and the build's
// frame decoder, give an error or at most the declared size, never a
// panic.
func FuzzDecodeFrame(f *testing.F) {
	var buf bytes.Buffer
	raw := bytes.Repeat([]byte("coLinux NG "), 1000)
	if _, err := Compress(context.Background(), bytes.NewReader(raw), int64(len(raw)), minFrameSize, testLevel, &buf, nil); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes()[:buf.Len()-int(seekTableSize(1))])
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x00})
	out, err := os.Create(filepath.Join(f.TempDir(), "out"))
	if err != nil {
		f.Fatal(err)
	}
	defer out.Close()
	dec, err := newFrameDecoder()
	if err != nil {
		f.Fatal(err)
	}
	defer dec.close()
	chunk := make([]byte, chunkSize)
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := Frame{CompressedSize: int64(len(data)), RawSize: int64(len(raw))}
		if fr.CompressedSize == 0 {
			return
		}
		decodeFrame(context.Background(), dec, bytes.NewReader(data), fr, out, chunk)
		if fi, err := out.Stat(); err == nil && fi.Size() > fr.RawSize {
			t.Fatalf("wrote %d bytes, more than the declared %d", fi.Size(), fr.RawSize)
		}
	})
}
