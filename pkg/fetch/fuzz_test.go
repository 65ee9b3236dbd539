package fetch

import (
	"strconv"
	"testing"
)

// FuzzRangeStart: a server's Content-Range header is untrusted input.
func FuzzRangeStart(f *testing.F) {
	f.Add("bytes 100-199/200")
	f.Add("bytes */200")
	f.Fuzz(func(t *testing.T, cr string) {
		n, ok := rangeStart(cr)
		if !ok {
			return
		}
		if n < 0 {
			t.Fatalf("%q: negative start %d", cr, n)
		}
		if want := "bytes " + strconv.FormatInt(n, 10) + "-"; len(cr) < len(want) {
			t.Fatalf("%q parsed as %d", cr, n)
		}
	})
}
