package bootstrap

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/colinux-ng/colinux/pkg/archive"
)

// openDeb opens a verified .deb for extraction. A data.tar.xz is
// decompressed up front by unxz and handed to archive.NewDeb as an
// uncompressed data.tar inside an in-memory copy of the ar archive, so the
// archive package's checks and safe extractor still do all the work.
// Other compressions go to archive.OpenDeb unchanged.
func openDeb(ctx context.Context, path string) (*archive.Deb, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	members, err := arMembers(raw)
	if err != nil || len(members) != 3 || members[2].name != "data.tar.xz" {
		return archive.OpenDeb(path) // let the archive package judge it
	}
	data, err := unxz(ctx, bytes.NewReader(members[2].body), 4*int64(len(members[2].body)))
	if err != nil {
		return nil, fmt.Errorf("%s: data.tar.xz: %w", path, err)
	}
	var b bytes.Buffer
	b.Grow(len(data) + len(members[1].body) + 256)
	b.WriteString("!<arch>\n")
	writeArMember(&b, members[0].name, members[0].body)
	writeArMember(&b, members[1].name, members[1].body)
	writeArMember(&b, "data.tar", data)
	return archive.NewDeb(bytes.NewReader(b.Bytes()), int64(b.Len()), path)
}

type arMember struct {
	name string
	body []byte
}

// arMembers splits an ar archive; it only needs to be good enough to
// find the members, archive.NewDeb validates the result.
func arMembers(raw []byte) ([]arMember, error) {
	if !bytes.HasPrefix(raw, []byte("!<arch>\n")) {
		return nil, archive.ErrFormat
	}
	var out []arMember
	for off := 8; off < len(raw); {
		if off+60 > len(raw) {
			return nil, archive.ErrFormat
		}
		h := raw[off : off+60]
		size, err := strconv.Atoi(strings.TrimSpace(string(h[48:58])))
		start := off + 60
		if err != nil || size < 0 || start+size > len(raw) {
			return nil, archive.ErrFormat
		}
		name := strings.TrimSuffix(strings.TrimSpace(string(h[:16])), "/")
		out = append(out, arMember{name: name, body: raw[start : start+size]})
		off = start + size + size&1
	}
	return out, nil
}

func writeArMember(w io.Writer, name string, body []byte) {
	fmt.Fprintf(w, "%-16s%-12s%-6s%-6s%-8s%-10d`\n", name, "0", "0", "0", "100644", len(body))
	w.Write(body)
	if len(body)%2 == 1 {
		w.Write([]byte{'\n'})
	}
}
