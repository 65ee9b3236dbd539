package xauth

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/colinux-ng/colinux/internal/testutil"
)

// xauth(1), libXau's own client, writes the file; Parse must read what it
// wrote, and Marshal must give back the same bytes.
func TestReadsXauthFile(t *testing.T) {
	xauth := testutil.RequireTool(t, "xauth")
	file := filepath.Join(t.TempDir(), "Xauthority")
	cookie := "00112233445566778899aabbccddeeff"
	for _, args := range [][]string{
		{"add", "myhost/unix:7", MITMagicCookie, cookie},
		{"add", "10.0.2.2:3", MITMagicCookie, "ffeeddccbbaa99887766554433221100"},
	} {
		testutil.Run(t, xauth, append([]string{"-f", file}, args...)...)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("got %d entries: %+v", len(entries), entries)
	}
	e, ok := Lookup(entries, FamilyLocal, []byte("myhost"), "7", MITMagicCookie)
	if !ok || e.Family != FamilyLocal || string(e.Address) != "myhost" || e.Number != "7" ||
		hex.EncodeToString(e.Data) != cookie {
		t.Errorf("local entry: %+v %v", e, ok)
	}
	if e, ok := Lookup(entries, FamilyInternet, []byte{10, 0, 2, 2}, "3", MITMagicCookie); !ok || e.Data[0] != 0xff {
		t.Errorf("internet entry: %+v %v", e, ok)
	}
	for _, miss := range []struct {
		fam    Family
		addr   string
		number string
	}{{FamilyLocal, "myhost", "3"}, {FamilyLocal, "other", "7"}, {FamilyInternet, "myhost", "7"}} {
		if e, ok := Lookup(entries, miss.fam, []byte(miss.addr), miss.number, MITMagicCookie); ok {
			t.Errorf("Lookup(%v) matched %+v", miss, e)
		}
	}
	again, err := Marshal(entries)
	if err != nil || !bytes.Equal(again, raw) {
		t.Errorf("Marshal differs from xauth's file (%v)", err)
	}
}

// What Marshal writes, xauth(1) lists.
func TestXauthReadsMarshal(t *testing.T) {
	xauth := testutil.RequireTool(t, "xauth")
	b, err := Marshal([]Entry{
		{Family: FamilyInternet, Address: []byte{10, 0, 2, 2}, Number: "0", Name: MITMagicCookie, Data: []byte{0xde, 0xad}},
		{Family: FamilyWild, Number: "0", Name: MITMagicCookie, Data: []byte{0xbe, 0xef}},
	})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "Xauthority")
	os.WriteFile(file, b, 0o600)
	out := testutil.Run(t, xauth, "-f", file, "list")
	for _, want := range []string{"10.0.2.2:0  MIT-MAGIC-COOKIE-1  dead", "#ffff##:0  MIT-MAGIC-COOKIE-1  beef"} {
		if !strings.Contains(out, want) {
			t.Errorf("xauth list lacks %q:\n%s", want, out)
		}
	}
}

func TestWildAndNumberless(t *testing.T) {
	entries := []Entry{
		{Family: FamilyLocal, Address: []byte("h"), Number: "1", Name: "XDM-AUTHORIZATION-1", Data: []byte{1}},
		{Family: FamilyWild, Number: "1", Name: MITMagicCookie, Data: []byte{2}},
		{Family: FamilyLocal, Address: []byte("h"), Name: MITMagicCookie, Data: []byte{3}},
	}
	if e, _ := Lookup(entries, FamilyLocal, []byte("h"), "1", MITMagicCookie); e.Data[0] != 2 {
		t.Errorf("display 1: got %+v", e)
	}
	if e, _ := Lookup(entries, FamilyLocal, []byte("h"), "5", MITMagicCookie); e.Data[0] != 3 {
		t.Errorf("display 5: got %+v", e)
	}
}

func TestMalformed(t *testing.T) {
	good, _ := Marshal([]Entry{{Family: FamilyLocal, Address: []byte("host"), Number: "0", Name: MITMagicCookie, Data: make([]byte, 16)}})
	for i := 1; i < len(good); i++ {
		if _, err := Parse(good[:i]); !errors.Is(err, ErrFormat) {
			t.Errorf("cut at %d: %v", i, err)
		}
	}
	if _, err := Read(bytes.NewReader(make([]byte, MaxFileSize+2))); !errors.Is(err, ErrFormat) {
		t.Errorf("huge file: %v", err)
	}
	if e, err := Parse(nil); err != nil || e != nil {
		t.Errorf("empty file: %v %v", e, err)
	}
}

func FuzzParse(f *testing.F) {
	good, _ := Marshal([]Entry{
		{Family: FamilyLocal, Address: []byte("host"), Number: "0", Name: MITMagicCookie, Data: make([]byte, 16)},
		{Family: FamilyWild, Name: MITMagicCookie},
	})
	f.Add(good)
	f.Add([]byte{0xff, 0xff, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v is not ErrFormat", err)
			}
			return
		}
		again, err := Marshal(entries)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("round trip differs: %v", err)
		}
		back, err := Parse(again)
		if err != nil || !reflect.DeepEqual(back, entries) {
			t.Fatalf("reparse differs: %v", err)
		}
	})
}
