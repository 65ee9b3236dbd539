package archive

import (
	"errors"
	"strings"
	"testing"
)

// TestParsePackagesSkipsFields: fields the resolver does not read are
// checked but skipped, multi-line ones included; names match in any case.
func TestParsePackagesSkipsFields(t *testing.T) {
	text := "PACKAGE: dash\nversion: 0.5.12-2\nArchitecture: amd64\nDescription: POSIX shell\n more text\n .\nFilename: pool/main/d/dash/dash_0.5.12-2_amd64.deb\n" +
		"Size: 12\nSHA256: " + strings.Repeat("a", 64) + "\nPre-Depends: libc6 (>= 2.34)\nTag: shell\n\n" +
		"Package: sed\nVersion: 4.9-1\nArchitecture: amd64\nEssential: yes\nFilename: pool/main/s/sed/sed_4.9-1_amd64.deb\nSize: 3\nSHA256: " + strings.Repeat("b", 64) + "\n"
	pkgs, err := ParsePackages(strings.NewReader(text), "Packages")
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 2 || pkgs[0].Name != "dash" || pkgs[0].Version != "0.5.12-2" || pkgs[0].PreDepends != "libc6 (>= 2.34)" ||
		pkgs[1].Name != "sed" || !pkgs[1].Essential || pkgs[1].Size != 3 {
		t.Fatalf("parsed %+v", pkgs)
	}
	for _, bad := range []string{"Package: x\n continued\nnot a field\n", "Description: x\n\n more\n"} {
		if _, err := ParsePackages(strings.NewReader(bad), "Packages"); !errors.Is(err, ErrFormat) {
			t.Errorf("%q: %v, want ErrFormat", bad, err)
		}
	}
}
