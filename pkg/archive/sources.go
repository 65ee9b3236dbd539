package archive

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// MirrorEnv overrides the host's apt sources when no flag is given.
const MirrorEnv = "COIMAGE_DEBIAN_MIRROR"

// aptSource is one "deb" entry of the host's apt configuration.
type aptSource struct {
	URIs     []string
	Suites   []string
	SignedBy string
	file     string // where it was read, for errors and tests
}

// MirrorFrom picks the Debian mirror: flag when non-empty, else the
// COIMAGE_DEBIAN_MIRROR environment variable, else the host's apt sources.
func MirrorFrom(flag string) (string, error) {
	if flag != "" {
		return normalizeMirror(flag, "flag")
	}
	if env := os.Getenv(MirrorEnv); env != "" {
		return normalizeMirror(env, "$"+MirrorEnv)
	}
	return HostMirror("/")
}

// HostMirror returns the main Debian archive URI configured in the apt
// sources below root ("/" normally): /etc/apt/sources.list, then
// /etc/apt/sources.list.d/*.list and *.sources in name order, as apt reads
// them. The main archive is the first deb source with a plain suite (no
// "-security", "-updates", "-backports" or "/updates" suffix); sources whose
// Signed-By names a Debian archive keyring, or that rely on the default
// keyrings, win over third-party repositories.
func HostMirror(root string) (string, error) {
	srcs, err := readHostSources(root)
	if err != nil {
		return "", err
	}
	var fallback *aptSource
	for i := range srcs {
		s := &srcs[i]
		if !hasPlainSuite(s.Suites) {
			continue
		}
		if s.SignedBy == "" || strings.Contains(s.SignedBy, "debian-archive") {
			return normalizeMirror(s.URIs[0], s.file)
		}
		if fallback == nil {
			fallback = s
		}
	}
	if fallback != nil {
		return normalizeMirror(fallback.URIs[0], fallback.file)
	}
	return "", fmt.Errorf("%w: no main-archive deb source in %s (set --mirror or $%s)",
		ErrNoMirror, filepath.Join(root, "etc/apt"), MirrorEnv)
}

func hasPlainSuite(suites []string) bool {
	for _, s := range suites {
		if !strings.ContainsAny(s, "-/") {
			return true
		}
	}
	return false
}

// normalizeMirror accepts http(s) URIs only: other apt transports (cdrom:,
// file:, mirror+…) are not something this client can fetch from.
func normalizeMirror(uri, from string) (string, error) {
	u := strings.TrimRight(uri, "/")
	if !isHTTP(u) {
		return "", fmt.Errorf("%w: %s gives %q, which is not an http(s) URL", ErrNoMirror, from, uri)
	}
	return u, nil
}

// readHostSources reads the http(s) deb sources under root in apt's order.
func readHostSources(root string) ([]aptSource, error) {
	dir := filepath.Join(root, "etc/apt/sources.list.d")
	files := []string{filepath.Join(root, "etc/apt/sources.list")}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read apt sources: %w", err)
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".list") || strings.HasSuffix(n, ".sources") {
			names = append(names, filepath.Join(dir, n))
		}
	}
	sort.Strings(names)
	files = append(files, names...)

	var all []aptSource
	for _, f := range files {
		data, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read apt sources: %w", err)
		}
		var srcs []aptSource
		if strings.HasSuffix(f, ".sources") {
			srcs, err = parseDeb822Sources(string(data), f)
		} else {
			srcs, err = parseOneLineSources(string(data), f)
		}
		if err != nil {
			return nil, err
		}
		all = append(all, srcs...)
	}
	return all, nil
}

// parseDeb822Sources reads an apt .sources file, keeping enabled "deb"
// entries with at least one http(s) URI.
func parseDeb822Sources(data, name string) ([]aptSource, error) {
	var out []aptSource
	err := parseParagraphs(strings.NewReader(data), name, func(p Paragraph, line int) error {
		if !strings.EqualFold(p.Get("Enabled"), "no") && hasWord(p.Get("Types"), "deb") {
			out = appendSource(out, aptSource{
				URIs:     strings.Fields(p.Get("URIs")),
				Suites:   strings.Fields(p.Get("Suites")),
				SignedBy: p.Get("Signed-By"),
				file:     fmt.Sprintf("%s:%d", name, line),
			})
		}
		return nil
	})
	return out, err
}

// parseOneLineSources reads the classic "deb [opts] URI suite comp..." form.
func parseOneLineSources(data, name string) ([]aptSource, error) {
	var out []aptSource
	sc := bufio.NewScanner(strings.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		var signedBy string
		if len(f) > 0 && strings.HasPrefix(f[0], "[") {
			// Options may be written "[a=b c=d]" or "[ a=b c=d ]".
			var opts []string
			for len(f) > 0 {
				tok := f[0]
				f = f[1:]
				opts = append(opts, strings.Trim(tok, "[]"))
				if strings.HasSuffix(tok, "]") {
					break
				}
			}
			for _, o := range opts {
				if v, ok := strings.CutPrefix(o, "signed-by="); ok {
					signedBy = v
				}
			}
		}
		if len(f) < 2 {
			return nil, fmt.Errorf("%s:%d: want \"deb URI suite [component...]\": %w", name, n, ErrFormat)
		}
		out = appendSource(out, aptSource{
			URIs:     f[:1],
			Suites:   f[1:2],
			SignedBy: signedBy,
			file:     fmt.Sprintf("%s:%d", name, n),
		})
	}
	return out, sc.Err()
}

// appendSource keeps only the http(s) URIs of s, dropping s without any.
func appendSource(out []aptSource, s aptSource) []aptSource {
	var uris []string
	for _, u := range s.URIs {
		if isHTTP(u) {
			uris = append(uris, u)
		}
	}
	if len(uris) == 0 || len(s.Suites) == 0 {
		return out
	}
	s.URIs = uris
	return append(out, s)
}

func isHTTP(uri string) bool {
	return strings.HasPrefix(uri, "http://") || strings.HasPrefix(uri, "https://")
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}
