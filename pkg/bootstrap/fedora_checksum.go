package bootstrap

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/colinux-ng/colinux/internal/lazyregexp"
	"github.com/colinux-ng/colinux/pkg/archive"
)

// checksumLink finds a release's CHECKSUM file in the images directory
// listing, e.g. Fedora-Container-42-1.1-x86_64-CHECKSUM. The listing is
// not signed; it only names the file whose signature is checked next.
var checksumLink = lazyregexp.New(`href="(Fedora-Container-[A-Za-z0-9._-]+-CHECKSUM)"`)

// findChecksum picks the CHECKSUM file for release and arch from an HTML
// directory listing; name labels errors.
func findChecksum(listing []byte, release, arch, name string) (string, error) {
	var found []string
	for _, m := range checksumLink.FindAllSubmatch(listing, -1) {
		f := string(m[1])
		if hasPart(f, release) && strings.Contains(f, "-"+arch+"-") && !slices.Contains(found, f) {
			found = append(found, f)
		}
	}
	if len(found) == 0 {
		return "", fmt.Errorf("%s: no Fedora-Container-%s-*-%s-CHECKSUM file listed: %w", name, release, arch, archive.ErrFormat)
	}
	slices.Sort(found) // a release directory holds one compose; be deterministic anyway
	return found[len(found)-1], nil
}

// checksumLine is one BSD-style line of Fedora's CHECKSUM files:
// "SHA256 (Fedora-Container-Base-Generic-42-1.1.x86_64.oci.tar.xz) = <hex>".
var checksumLine = lazyregexp.New(`^(SHA256|SHA512) \(([^()/]+)\) = ([0-9a-f]+)$`)

// sizeComment is the line before it: "# <file>: <n> bytes".
var sizeComment = lazyregexp.New(`^# ([^:/]+): ([0-9]+) bytes$`)

// parseChecksum reads the signed text of a CHECKSUM file into digests by
// file name; name labels errors.
func parseChecksum(text []byte, name string) (map[string]digest, error) {
	sizes := map[string]int64{}
	out := map[string]digest{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if m := sizeComment.FindStringSubmatch(line); m != nil {
			if size, err := strconv.ParseInt(m[2], 10, 64); err == nil {
				sizes[m[1]] = size
			}
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := checksumLine.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("%s:%d: want \"SHA256 (file) = hex\", got %q: %w", name, n, line, archive.ErrFormat)
		}
		size, ok := sizes[m[2]]
		if !ok {
			size = -1
		}
		out[m[2]] = digest{Algo: m[1], Sum: m[3], Size: size}
	}
	return out, sc.Err()
}

// hasPart reports whether a Fedora file name has the release as one of
// its dash-separated parts ("-42-", "-Rawhide-").
func hasPart(file, release string) bool {
	return strings.Contains(strings.ToLower(file), "-"+strings.ToLower(release)+"-")
}

// pickContainerBase chooses the Container Base image of release for arch
// among a CHECKSUM file's entries, e.g. Fedora-Container-Base-Generic-42-
// 1.1.x86_64.oci.tar.xz (older: Fedora-Container-Base-39-1.5.x86_64.
// tar.xz). Requiring the release in the signed name keeps a mirror from
// passing off another release's signed CHECKSUM. Minimal and Toolbox
// images are other products.
func pickContainerBase(sums map[string]digest, release, arch, name string) (string, error) {
	var found []string
	for f := range sums {
		if strings.HasPrefix(f, "Fedora-Container-Base") && !strings.Contains(f, "Minimal") && hasPart(f, release) &&
			strings.Contains(f, "."+arch) && strings.HasSuffix(f, ".tar.xz") {
			found = append(found, f)
		}
	}
	slices.Sort(found)
	switch len(found) {
	case 0:
		return "", fmt.Errorf("%s: no Fedora-Container-Base image of release %s for %s: %w", name, release, arch, ErrNoDigest)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("%s: several Container Base images for %s (%s): %w", name, arch, strings.Join(found, ", "), archive.ErrFormat)
}
