package recipe

import (
	"os"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse: it must never panic, every
// error line must name the file, and an accepted recipe must validate and
// hash.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/minbase.yaml", "../../recipes/debian.yaml", "../../recipes/fedora.yaml", "../../recipes/gentoo.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(full))
	f.Add([]byte(head + "size: 2G\nfiles: [{path: /a, content: x, mode: 0755}]\nhostname: \"{{ .h }}\"\nvariables: {h: x}\n"))
	f.Add([]byte("a: &x [*x, *x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data, "f.yaml")
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "f.yaml") {
					t.Fatalf("error line without file name: %q", line)
				}
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("accepted recipe fails Validate: %v", err)
		}
		_ = r.Hash()
	})
}
