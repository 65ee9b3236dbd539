package release

import (
	"bytes"
	"context"
	"net/http"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/colinux-ng/colinux/pkg/fetch"
)

// Each bad input or fault: a clear error naming what failed, nothing at
// the output, nothing in the cache.

func TestPullTamperedIndex(t *testing.T) {
	fx := newFixture(t)
	data := mustRead(t, filepath.Join(fx.dist, IndexFile))
	fx.srv.set(func(s *faultServer) {
		s.body["/"+IndexFile] = bytes.Replace(data, []byte(`"os": "debian"`), []byte(`"os": "Debian"`), 1)
	})
	pullFails(t, fx.puller(t), "testos-1", ErrSignature, fx.url, "bad signature")
}

func TestPullWrongKey(t *testing.T) {
	fx := newFixture(t)
	p := fx.puller(t)
	_, other, _ := testKey(t)
	p.Keys = []Key{other}
	pullFails(t, p, "testos-1", ErrSignature, "not a trusted key", keyID(fx.pub.ID()))
	p.Keys = nil
	pullFails(t, p, "testos-1", ErrSignature, "no trusted public key")
}

func TestPullExpiredIndex(t *testing.T) {
	fx := newFixture(t)
	p := fx.puller(t)
	p.Now = func() time.Time { return fx.index.Expires.Add(time.Second) }
	pullFails(t, p, "testos-1", ErrExpired, "expired on "+fx.index.Expires.UTC().Format(time.RFC3339))
}

// A validly signed index naming a file outside its own directory or host.
func TestPullPathOutsideOrigin(t *testing.T) {
	for _, bad := range []string{"../outside.img.zst", "/etc/passwd", "http://elsewhere.example/x.zst", "images/../../x", "a//b", `a\..\b`, "%2e%2e/x"} {
		t.Run(bad, func(t *testing.T) {
			fx := newFixture(t)
			ix := *fx.index
			ix.Images = append([]Image(nil), ix.Images...)
			ix.Images[0].Path = bad
			fx.resign(t, &ix, fx.key)
			pullFails(t, fx.puller(t), "testos-1", ErrUnsafePath, strings.ReplaceAll(bad, `\`, `\\`))
		})
	}
	if _, err := resolvePath("https://a.example/rel/index.json", "x/y.zst"); err != nil {
		t.Fatal(err)
	}
}

func TestPullChangedByte(t *testing.T) {
	fx := newFixture(t)
	im := fx.index.Images[0]
	blob := bytes.Clone(mustRead(t, filepath.Join(fx.dist, im.Path)))
	blob[len(blob)/3] ^= 0x40
	fx.srv.set(func(s *faultServer) { s.body["/"+im.Path] = blob })
	pullFails(t, fx.puller(t), "testos-1", ErrChecksum, im.Path, "frame ", "SHA256")
}

// A frame that decompresses to more than the signed index declares.
func TestPullBomb(t *testing.T) {
	fx := newFixture(t)
	// Compress 2 MiB as one frame and declare it as 1 MiB.
	raw := bytes.Repeat([]byte("bomb"), 512<<10)
	var buf bytes.Buffer
	frames, err := Compress(context.Background(), bytes.NewReader(raw), int64(len(raw)), 2<<20, testLevel, &buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	ix := *fx.index
	im := ix.Images[0]
	im.Size, im.FrameSize = 1<<20, 1<<20
	im.SHA256 = sha256Hex(raw[:1<<20])
	im.CompressedSize, im.CompressedSHA256 = int64(buf.Len()), sha256Hex(buf.Bytes())
	im.Frames = []FrameDigest{{CompressedSize: frames[0].CompressedSize, CompressedSHA256: frames[0].CompressedSHA256, Size: 1 << 20, SHA256: im.SHA256}}
	im.Path = path.Join(path.Dir(im.Path), "bomb.zst")
	ix.Images = []Image{im}
	fx.srv.set(func(s *faultServer) { s.body["/"+im.Path] = buf.Bytes() })
	fx.resign(t, &ix, fx.key)
	pullFails(t, fx.puller(t), "testos-1", nil, "more than declared", "frame 0")
}

func TestPullTruncated(t *testing.T) {
	fx := newFixture(t)
	im := fx.index.Images[0]
	blob := mustRead(t, filepath.Join(fx.dist, im.Path))
	fx.srv.set(func(s *faultServer) { s.body["/"+im.Path] = blob[:len(blob)-1000] })
	pullFails(t, fx.puller(t), "testos-1", fetch.ErrTruncated, "ended after", im.Path)
}

// The server drops the connection mid-transfer: the pull resumes with a
// Range request from where the bytes stopped and succeeds.
func TestPullServerDiesResumes(t *testing.T) {
	fx := newFixture(t)
	im := fx.index.Images[0]
	cut := im.CompressedSize / 2
	fx.srv.set(func(s *faultServer) { s.dieAt["/"+im.Path] = cut })
	p := fx.puller(t)
	res, err := p.Pull(context.Background(), "testos-1", "", false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustRead(t, res.Path), mustRead(t, fx.img)) {
		t.Fatal("resumed image differs")
	}
	var ranges []string
	for _, r := range fx.srv.requests() {
		if strings.HasPrefix(r, "/"+im.Path) {
			ranges = append(ranges, strings.TrimPrefix(r, "/"+im.Path+" "))
		}
	}
	if len(ranges) != 2 || ranges[0] != "" || ranges[1] != "bytes="+itoa(cut)+"-" {
		t.Fatalf("requests for the image: %q, want a full GET then bytes=%d-", ranges, cut)
	}
}

// A later run resumes the .part an interrupted one left, fetching only the
// rest.
func TestPullResumesEarlierPart(t *testing.T) {
	fx := newFixture(t)
	im := fx.index.Images[0]
	p := fx.puller(t)
	p.Client.Tries = 1
	cut := im.CompressedSize * 2 / 3
	fx.srv.set(func(s *faultServer) { s.dieAt["/"+im.Path] = cut })
	if _, err := p.Pull(context.Background(), "testos-1", "", false); err == nil {
		t.Fatal("pull with one try survived a dropped connection")
	}
	part := fetch.PartPath(filepath.Join(p.CacheDir, "downloads", im.CompressedSHA256+".zst"))
	if got := int64(len(mustRead(t, part))); got != cut {
		t.Fatalf(".part holds %d bytes, want %d", got, cut)
	}
	assertNoFiles(t, filepath.Join(p.CacheDir, "images"))
	if _, err := p.Pull(context.Background(), "testos-1", "", false); err != nil {
		t.Fatal(err)
	}
	if last := fx.srv.requests(); !strings.HasSuffix(last[len(last)-1], "bytes="+itoa(cut)+"-") {
		t.Fatalf("second run did not resume: %q", last)
	}
	assertMissing(t, part)
}

func TestPullHTTPStatus(t *testing.T) {
	for _, code := range []int{http.StatusNotFound, http.StatusInternalServerError} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			fx := newFixture(t)
			im := fx.index.Images[0]
			fx.srv.set(func(s *faultServer) { s.status["/"+im.Path] = code })
			pullFails(t, fx.puller(t), "testos-1", nil, im.Path, http.StatusText(code))
			fx.srv.set(func(s *faultServer) { delete(s.status, "/"+im.Path); s.status["/"+IndexFile] = code })
			pullFails(t, fx.puller(t), "testos-1", nil, IndexFile, http.StatusText(code))
		})
	}
}

func TestPullUnknownName(t *testing.T) {
	fx := newFixture(t)
	pullFails(t, fx.puller(t), "nosuch", ErrNotFound, "nosuch")
	pullFails(t, fx.puller(t), "testos-1:1", ErrNotFound, "no serial 1")
	p := fx.puller(t)
	p.Arch = "riscv64"
	pullFails(t, p, "testos-1", ErrNotFound, "none for riscv64")
}
