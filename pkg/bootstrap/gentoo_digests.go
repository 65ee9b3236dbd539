package bootstrap

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/colinux-ng/colinux/pkg/archive"
)

// parseLatest reads the signed text of a latest-stage3-<arch>-<flavor>.txt
// pointer:
//
//	# Latest as of Sun, 05 May 2024 17:00:02 +0000
//	# ts=1714928402
//	20240505T170314Z/stage3-amd64-systemd-20240505T170314Z.tar.xz 281365584
//
// and returns the tarball's path below autobuilds/ and its size. The
// name must be the stage3 of arch and flavor, so a pointer for another
// flavor cannot be passed off as this one. name labels errors.
func parseLatest(text []byte, arch, flavor, name string) (string, int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return "", 0, fmt.Errorf("%s:%d: want \"<path> <size>\", got %q: %w", name, n, line, archive.ErrFormat)
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || size <= 0 {
			return "", 0, fmt.Errorf("%s:%d: bad size %q: %w", name, n, f[1], archive.ErrFormat)
		}
		p := f[0]
		base := path.Base(p)
		if path.Clean(p) != p || path.IsAbs(p) || strings.HasPrefix(p, "../") ||
			!strings.HasPrefix(base, "stage3-"+arch+"-"+flavor+"-") || !strings.HasSuffix(base, ".tar.xz") {
			return "", 0, fmt.Errorf("%s:%d: %q is not a stage3-%s-%s-*.tar.xz path: %w", name, n, p, arch, flavor, archive.ErrFormat)
		}
		return p, size, nil
	}
	if err := sc.Err(); err != nil {
		return "", 0, err
	}
	return "", 0, fmt.Errorf("%s: no stage3 listed: %w", name, archive.ErrFormat)
}

// parseDigests finds file's SHA512 in the signed text of a stage3's
// .DIGESTS, which lists each file once per hash, in sections:
//
//	# BLAKE2B HASH
//	<hex>  stage3-amd64-systemd-20240505T170314Z.tar.xz
//	# SHA512 HASH
//	<hex>  stage3-amd64-systemd-20240505T170314Z.tar.xz
//
// size (from the pointer) completes the digest. name labels errors.
func parseDigests(text []byte, file string, size int64, name string) (digest, error) {
	algo := ""
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if h, ok := strings.CutPrefix(line, "# "); ok {
			algo, _ = strings.CutSuffix(h, " HASH")
			continue
		}
		f := strings.Fields(line)
		if algo == "SHA512" && len(f) == 2 && strings.TrimPrefix(f[1], "*") == file {
			return digest{Algo: "SHA512", Sum: strings.ToLower(f[0]), Size: size}, nil
		}
	}
	if err := sc.Err(); err != nil {
		return digest{}, err
	}
	return digest{}, fmt.Errorf("%s: no SHA512 line for %s: %w", name, file, ErrNoDigest)
}
