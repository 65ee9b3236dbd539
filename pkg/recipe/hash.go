package recipe

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// Hash is a SHA-256 over the recipe's canonical form: yaml.Marshal of the
// validated recipe, so key order, comments, quoting, templates and spelled
// out defaults do not matter, while any effective value does. Recipes from
// Load also cover the bytes of every copy source; a recipe from Parse covers
// only copy paths, as Parse reads no files. Builds derive the image UUID and
// other seeds from it.
func (r *Recipe) Hash() string {
	h := sha256.New()
	io.WriteString(h, "colinux-recipe-v1\n") // a new encoding gets a new prefix
	enc := yaml.NewEncoder(h)
	if err := enc.Encode(r); err != nil {
		panic("recipe: canonical encoding: " + err.Error()) // only a schema bug gets here
	}
	enc.Close()
	for i, sum := range r.copySHA256 {
		if sum == "" {
			continue // not a copy entry
		}
		fmt.Fprintf(h, "copy %s %s\n", r.Files[i].Path, sum)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// MarshalYAML writes the source flat, as recipes do: type beside the
// distribution's own fields.
func (s Source) MarshalYAML() (any, error) {
	var fields any
	switch {
	case s.Debian != nil:
		fields = s.Debian
	case s.Fedora != nil:
		fields = s.Fedora
	case s.Gentoo != nil:
		fields = s.Gentoo
	default:
		fields = struct{}{}
	}
	var n yaml.Node
	if err := n.Encode(fields); err != nil {
		return nil, err
	}
	typ := []*yaml.Node{{Kind: yaml.ScalarNode, Value: "type"}, {Kind: yaml.ScalarNode, Value: s.Type}}
	n.Content = append(typ, n.Content...)
	return &n, nil
}

// HostPath resolves a host path from the recipe (copy, key, keyring)
// against the recipe file's directory.
func (r *Recipe) HostPath(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(r.File), filepath.FromSlash(p))
}

// hashCopies records the digest of every copy source, checking on the way
// that each is a readable regular file.
func (r *Recipe) hashCopies() error {
	r.copySHA256 = make([]string, len(r.Files))
	var errs []error
	for i, f := range r.Files {
		if f.Copy == "" {
			continue
		}
		sum, err := fileSHA256(r.HostPath(f.Copy))
		if err != nil {
			errs = append(errs, r.errorAt(fmt.Sprintf("files[%d].copy", i), "%v", err))
		}
		r.copySHA256[i] = sum
	}
	return joinSorted(errs)
}

func fileSHA256(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return "", err
	} else if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", name)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
