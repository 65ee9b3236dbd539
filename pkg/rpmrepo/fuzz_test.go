package rpmrepo

import (
	"strings"
	"testing"
)

func FuzzParsePrimary(f *testing.F) {
	f.Add(`<metadata><package type="rpm"><name>a</name><arch>noarch</arch><version epoch="0" ver="1" rel="1"/>` +
		`<checksum type="sha256">` + strings.Repeat("0", 64) + `</checksum><location href="Packages/a.rpm"/>` +
		`<format><rpm:provides><rpm:entry name="a" flags="EQ" ver="1"/></rpm:provides><rpm:requires><rpm:entry name="(b or c)"/></rpm:requires>` +
		`<rpm:conflicts><rpm:entry name="b" flags="LT" ver="2"/></rpm:conflicts><rpm:obsoletes><rpm:entry name="c"/></rpm:obsoletes><file>/usr/bin/a</file></format></package></metadata>`)
	f.Fuzz(func(t *testing.T, xml string) {
		pkgs, err := ParsePrimary(strings.NewReader(xml), 0, func(string) bool { return true }, "fuzz")
		if err != nil {
			return
		}
		ix := NewIndex(pkgs)
		for _, p := range pkgs {
			ix.Resolve([]string{p.Name}, nil)
		}
	})
}

func FuzzParseRich(f *testing.F) {
	f.Add("((a >= 1 with b) or (c if d else e))")
	f.Fuzz(func(t *testing.T, s string) {
		if r, err := parseRich(s); err == nil {
			_ = r.String()
		}
	})
}

// FuzzRepomd: a repomd.xml gives the primary metadata's location inside
// the repository and its SHA256, or an error.
func FuzzRepomd(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
 <revision>1700000000</revision>
 <data type="primary">
  <checksum type="sha256">` + strings.Repeat("ab", 32) + `</checksum>
  <open-checksum type="sha256">` + strings.Repeat("cd", 32) + `</open-checksum>
  <location href="repodata/` + strings.Repeat("ab", 32) + `-primary.xml.zst"/>
  <timestamp>1700000000</timestamp>
  <size>1234</size>
  <open-size>56789</open-size>
 </data>
</repomd>`))
	f.Fuzz(func(t *testing.T, repomd []byte) {
		d, err := Primary(repomd, "fuzz")
		if err != nil {
			return
		}
		if _, err := relative(d.Location); err != nil || strings.HasPrefix(d.Location, "../") || !isHex(d.SHA256, 64) {
			t.Fatalf("accepted %+v", d)
		}
	})
}
