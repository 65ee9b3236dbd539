package rpm_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/klauspost/compress/zstd"

	"github.com/colinux-ng/colinux/internal/testutil"
	"github.com/colinux-ng/colinux/pkg/pgpverify"
	"github.com/colinux-ng/colinux/pkg/pgpverify/pgptest"
	"github.com/colinux-ng/colinux/pkg/rpm"
	"github.com/colinux-ng/colinux/pkg/rpm/rpmtest"
)

var spec = rpmtest.Spec{
	Name: "hello", Version: "2.12", Release: "1.fc44", Arch: "x86_64", Epoch: 1, BuildTime: 1735787045,
	Requires: []string{"glibc >= 2.40", "/bin/sh"}, Provides: []string{"greeting"},
	Files: []rpmtest.File{
		{Path: "/usr/bin/hello", Body: "#!/bin/sh\necho hello\n", Mode: 0o755},
		{Path: "/usr/share/hello/", User: "nobody", Group: "nobody"},
		{Path: "/usr/share/hello/README", Body: "hi\n"},
		{Path: "/usr/bin/hi", Link: "hello"},
	},
}

func open(t *testing.T, data []byte) *rpm.Package {
	t.Helper()
	p, err := rpm.Open(bytes.NewReader(data), int64(len(data)), "hello.rpm")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadAndVerify(t *testing.T) {
	key := pgptest.NewKey(t)
	data := rpmtest.Build(t, spec, key)
	p := open(t, data)
	if got := p.NEVRA(); got != "hello-1:2.12-1.fc44.x86_64" {
		t.Errorf("NEVRA %q", got)
	}
	signer, err := p.Verify(openpgp.EntityList{key.Entity})
	if err != nil {
		t.Fatal(err)
	}
	if len(signer) != 40 {
		t.Errorf("signer %q", signer)
	}
	files, err := p.Files()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 || files[2].Path != "/usr/share/hello" || files[2].User != "nobody" {
		t.Errorf("files %+v", files)
	}
	if p.Compressor() != "zstd" {
		t.Errorf("compressor %q", p.Compressor())
	}
	z, err := zstd.NewReader(p.Payload())
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	cr := rpm.NewCPIOReader(z, "payload")
	var names []string
	for {
		h, err := cr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(cr)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name+" "+h.FileMode().String()+" "+string(body))
	}
	want := "./usr/bin/hello -rwxr-xr-x #!/bin/sh\necho hello\n|./usr/bin/hi Lrwxrwxrwx hello|./usr/share/hello drwxr-xr-x |./usr/share/hello/README -rw-r--r-- hi\n"
	if got := strings.Join(names, "|"); got != want {
		t.Errorf("payload\n%q\nwant\n%q", got, want)
	}
}

// TestRefuses: another key, a tampered payload or header, no signature.
func TestRefuses(t *testing.T) {
	key := pgptest.NewKey(t)
	data := rpmtest.Build(t, spec, key)
	other := pgptest.NewKey(t)
	if _, err := open(t, data).Verify(openpgp.EntityList{other.Entity}); !errors.Is(err, pgpverify.ErrSignature) {
		t.Errorf("wrong key: %v", err)
	}
	payload := bytes.Clone(data)
	payload[len(payload)-20] ^= 1
	if _, err := open(t, payload).Verify(openpgp.EntityList{key.Entity}); !errors.Is(err, rpm.ErrDigest) {
		t.Errorf("tampered payload: %v", err)
	}
	hdr := bytes.Clone(data)
	i := bytes.Index(hdr, []byte("fixture package hello"))
	hdr[i] = 'F'
	if _, err := open(t, hdr).Verify(openpgp.EntityList{key.Entity}); !errors.Is(err, pgpverify.ErrSignature) {
		t.Errorf("tampered header: %v", err)
	}
	if _, err := open(t, rpmtest.Build(t, spec, nil)).Verify(openpgp.EntityList{key.Entity}); !errors.Is(err, rpm.ErrUnsigned) {
		t.Errorf("unsigned: %v", err)
	}
	if _, err := rpm.Open(bytes.NewReader(data[:200]), 200, "short.rpm"); !errors.Is(err, rpm.ErrFormat) {
		t.Errorf("truncated: %v", err)
	}
}

// TestHostRPM: the host's rpm reads the fixture packages the same way and
// accepts their signatures, so the fixtures (and with them our reader)
// follow the real format.
func TestHostRPM(t *testing.T) {
	rpmBin := testutil.RequireTool(t, "rpm")
	key := pgptest.NewKey(t)
	dir := t.TempDir()
	file := filepath.Join(dir, spec.FileName())
	if err := os.WriteFile(file, rpmtest.Build(t, spec, key), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "db")
	key.WritePublic(t, filepath.Join(dir, "key.asc"))
	run := func(args ...string) string {
		out, err := exec.Command(rpmBin, append([]string{"--dbpath", db}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("rpm %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := run("-qp", "--qf", "%{NEVRA} %{PAYLOADCOMPRESSOR}\n", "--requires", file); !strings.Contains(out, "hello-1:2.12-1.fc44.x86_64 zstd") || !strings.Contains(out, "glibc >= 2.40") {
		t.Errorf("rpm -qp:\n%s", out)
	}
	if out := run("-qplv", file); !strings.Contains(out, "/usr/bin/hi -> hello") || !strings.Contains(out, "nobody") {
		t.Errorf("rpm -qplv:\n%s", out)
	}
	exec.Command("rpmkeys", "--dbpath", db, "--initdb").Run()
	run("--import", filepath.Join(dir, "key.asc"))
	if out := run("-K", file); !strings.Contains(out, "digests signatures OK") {
		t.Errorf("rpm -K:\n%s", out)
	}
}
