package rpm_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/colinux-ng/colinux/pkg/pgpverify/pgptest"
	"github.com/colinux-ng/colinux/pkg/rpm"
	"github.com/colinux-ng/colinux/pkg/rpm/rpmtest"
)

// FuzzOpen: any file gives a package or an error, never a panic or an
// allocation beyond the declared limits; the accessors stay in bounds.
func FuzzOpen(f *testing.F) {
	key := pgptest.NewKey(f)
	f.Add(rpmtest.Build(f, spec, key))
	f.Add(rpmtest.Build(f, rpmtest.Spec{Name: "e", Version: "1", Release: "1", Arch: "noarch", Compressor: "gzip"}, nil))
	keys := openpgp.EntityList{key.Entity}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := rpm.Open(bytes.NewReader(data), int64(len(data)), "fuzz.rpm")
		if err != nil {
			return
		}
		p.NEVRA()
		p.Files()
		p.Verify(keys)
		for _, tag := range []int32{rpm.TagName, rpm.TagEpoch, rpm.TagDirIndexes, rpm.TagFileModes, rpm.SigRSA} {
			p.Header.Strings(tag)
			p.Header.Ints(tag)
			p.Header.Bytes(tag)
			p.Signature.Ints(tag)
		}
	})
}

// FuzzCPIO: any payload stream gives entries or an error.
func FuzzCPIO(f *testing.F) {
	f.Add([]byte("07070100000001000081a4000000000000000000000001677602250000000300000000000000000000000000000000000000060000000000./abc\x00hi\n\x00" +
		"07070100000000000000000000000000000000000000010000000000000000000000000000000000000000000000000000000b00000000TRAILER!!!\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := rpm.NewCPIOReader(bytes.NewReader(data), "fuzz")
		for {
			h, err := c.Next()
			if err != nil {
				return
			}
			h.FileMode()
			if _, err := io.Copy(io.Discard, c); err != nil {
				return
			}
		}
	})
}

func FuzzVercmp(f *testing.F) {
	f.Add("1.0~rc1^git1", "1.0.1a")
	f.Fuzz(func(t *testing.T, a, b string) {
		if x, y := rpm.Vercmp(a, b), rpm.Vercmp(b, a); x != -y {
			t.Errorf("Vercmp(%q, %q) = %d but reversed %d", a, b, x, y)
		}
	})
}
