package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// tfile is one entry of a tar built by a test.
type tfile struct {
	name, body, link string
	typ              byte
	mode             int64
	uid, gid         int
	major, minor     int64
}

var testTime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func buildTar(t testing.TB, files []tfile) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		typ, mode := f.typ, f.mode
		if typ == 0 {
			typ = tar.TypeReg
		}
		if mode == 0 {
			mode = 0o644
			if typ == tar.TypeDir {
				mode = 0o755
			}
		}
		h := &tar.Header{Name: f.name, Typeflag: typ, Mode: mode, Uid: f.uid, Gid: f.gid,
			Linkname: f.link, Devmajor: f.major, Devminor: f.minor, ModTime: testTime, Format: tar.FormatGNU}
		if typ == tar.TypeReg {
			h.Size = int64(len(f.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// compress encodes data as gz, xz or zst.
func compress(t testing.TB, kind string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch kind {
	case "gz":
		w = gzip.NewWriter(&buf)
	case "xz":
		w, err = xz.NewWriter(&buf)
	case "zst":
		w, err = zstd.NewWriter(&buf)
	default:
		t.Fatalf("unknown compression %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// buildAr writes an ar archive of name/data pairs.
func buildAr(members ...[2]string) []byte {
	var buf bytes.Buffer
	buf.WriteString("!<arch>\n")
	for _, m := range members {
		fmt.Fprintf(&buf, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m[0], testTime.Unix(), 0, 0, "100644", len(m[1]))
		buf.WriteString(m[1])
		if len(m[1])%2 == 1 {
			buf.WriteByte('\n')
		}
	}
	return buf.Bytes()
}

// buildDeb makes a .deb whose control and data archives use compression
// comp, with extra control members beside the control file.
func buildDeb(t testing.TB, control string, scripts map[string]string, data []tfile, comp string) []byte {
	t.Helper()
	ctl := []tfile{{name: "./", typ: tar.TypeDir}, {name: "./control", body: control}}
	for name, body := range scripts {
		ctl = append(ctl, tfile{name: "./" + name, body: body, mode: 0o755})
	}
	return buildAr(
		[2]string{"debian-binary", "2.0\n"},
		[2]string{"control.tar." + comp, string(compress(t, comp, buildTar(t, ctl)))},
		[2]string{"data.tar." + comp, string(compress(t, comp, buildTar(t, data)))},
	)
}
