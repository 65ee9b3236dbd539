package bootstrap

import (
	"archive/tar"
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/colinux-ng/colinux/pkg/archive"
	"github.com/colinux-ng/colinux/pkg/rpm"
)

// unpackRPM unpacks a verified package's payload into target. The cpio
// stream becomes a tar stream for archive.ExtractTar, which keeps every
// write inside the target. Owners are the header's user and group names
// looked up in the target's /etc/passwd and /etc/group (root when
// unknown, as rpm does); file capabilities are left to the second stage,
// whose rpm sets them.
func unpackRPM(ctx context.Context, f verifiedRPM, target string) error {
	name := f.pkg.NEVRA()
	pkg, file, err := openRPM(f.path, name)
	if err != nil {
		return err
	}
	defer file.Close()
	list, err := pkg.Files()
	if err != nil {
		return err
	}
	users, groups := idMap(filepath.Join(target, "etc/passwd")), idMap(filepath.Join(target, "etc/group"))
	owners := make(map[string][2]int, len(list))
	for _, fl := range list {
		owners["."+fl.Path] = [2]int{users[fl.User], groups[fl.Group]}
	}
	plain, err := decompressed(ctx, pkg.Payload())
	if err != nil {
		return fmt.Errorf("%s: payload: %w", name, err)
	}
	defer plain.Close()
	pr, pw := io.Pipe()
	converted := make(chan error, 1)
	go func() {
		err := cpioToTar(rpm.NewCPIOReader(plain, name+": payload"), pw, owners)
		pw.CloseWithError(err)
		converted <- err
	}()
	_, err = archive.ExtractTar(ctx, tar.NewReader(pr), target, name, unpackOptions)
	pr.CloseWithError(io.ErrClosedPipe) // stops the writer if extraction failed early
	if cerr := <-converted; err == nil && cerr != nil {
		err = cerr
	}
	return err
}

// cpioToTar rewrites a payload as tar. Hard links: rpm stores the data
// with the last name of a set (the others have size 0), so earlier names
// wait for it and then become links to it.
func cpioToTar(cr *rpm.CPIOReader, w io.Writer, owners map[string][2]int) error {
	tw := tar.NewWriter(w)
	pending := map[uint32][]*tar.Header{}
	stored := map[uint32]string{}
	for {
		h, err := cr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		own := owners[h.Name]
		th := &tar.Header{Name: h.Name, Mode: int64(h.Mode & 0o7777), Uid: own[0], Gid: own[1],
			ModTime: time.Unix(h.Mtime, 0), Devmajor: int64(h.RdevMajor), Devminor: int64(h.RdevMinor)}
		switch h.Mode & rpm.ModeType {
		case rpm.ModeDir:
			th.Typeflag = tar.TypeDir
		case rpm.ModeLink:
			target, err := io.ReadAll(cr)
			if err != nil {
				return err
			}
			th.Typeflag, th.Linkname = tar.TypeSymlink, string(target)
		case rpm.ModeChar:
			th.Typeflag = tar.TypeChar
		case rpm.ModeBlock:
			th.Typeflag = tar.TypeBlock
		case rpm.ModeFIFO:
			th.Typeflag = tar.TypeFifo
		case rpm.ModeSocket:
			continue // the program that binds it makes it
		case rpm.ModeReg:
			th.Typeflag, th.Size = tar.TypeReg, h.Size
			if h.Nlink > 1 {
				if first, ok := stored[h.Ino]; ok {
					th.Typeflag, th.Linkname, th.Size = tar.TypeLink, first, 0
					break
				}
				if h.Size == 0 {
					pending[h.Ino] = append(pending[h.Ino], th)
					continue
				}
				stored[h.Ino] = h.Name
			}
		}
		if err := tw.WriteHeader(th); err != nil {
			return err
		}
		if th.Typeflag == tar.TypeReg {
			if _, err := io.Copy(tw, cr); err != nil {
				return err
			}
		}
		for _, link := range pending[h.Ino] {
			if th.Typeflag != tar.TypeReg {
				break
			}
			link.Typeflag, link.Linkname = tar.TypeLink, h.Name
			if err := tw.WriteHeader(link); err != nil {
				return err
			}
		}
		delete(pending, h.Ino)
	}
	for ino := range pending { // a set whose data never came: empty files
		for i, th := range pending[ino] {
			if i > 0 {
				th.Typeflag, th.Linkname = tar.TypeLink, pending[ino][0].Name
			}
			if err := tw.WriteHeader(th); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// idMap reads name → id from an /etc/passwd or /etc/group file; a
// missing file gives an empty map (every owner root).
func idMap(path string) map[string]int {
	m := map[string]int{}
	f, err := os.Open(path)
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 3 {
			continue
		}
		if id, err := strconv.Atoi(fields[2]); err == nil && id >= 0 {
			m[fields[0]] = id
		}
	}
	return m
}
