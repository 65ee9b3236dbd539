package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// testArchive serves a signed synthetic suite "bookworm" over HTTP on
// 127.0.0.1. Tests change files (path below the mirror root) to tamper.
type testArchive struct {
	srv     *httptest.Server
	key     *openpgp.Entity
	keyring string

	mu    sync.Mutex
	files map[string][]byte
	hits  map[string]int
}

type archiveOpts struct {
	validUntil time.Time
	byHash     bool
}

func newKey(t *testing.T) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity("coimage test archive", "", "archive@example.invalid",
		&packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func writeKeyring(t *testing.T, e *openpgp.Entity) string {
	t.Helper()
	var buf bytes.Buffer
	if err := e.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "keyring.gpg")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func clearsignText(t *testing.T, e *openpgp.Entity, text string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := clearsign.Encode(&buf, e.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(text)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

const libgreetControl = "Package: libgreet\nVersion: 2.0-1\nArchitecture: amd64\nDescription: greetings\n"

func newTestArchive(t *testing.T, opt archiveOpts) *testArchive {
	t.Helper()
	a := &testArchive{key: newKey(t), files: map[string][]byte{}, hits: map[string]int{}}
	a.keyring = writeKeyring(t, a.key)

	debs := map[string][]byte{
		"pool/main/h/hello/hello_1.0-1_amd64.deb":          buildDeb(t, helloControl, map[string]string{"postinst": "#!/bin/sh\n"}, helloData(), "xz"),
		"pool/main/libg/libgreet/libgreet_2.0-1_amd64.deb": buildDeb(t, libgreetControl, nil, []tfile{{name: "./usr/lib/libgreet.so.2", body: "ELF"}}, "zst"),
	}
	var packages strings.Builder
	for _, p := range []struct{ name, ver, deps, file string }{
		{"hello", "1.0-1", "libgreet (>= 2)", "pool/main/h/hello/hello_1.0-1_amd64.deb"},
		{"libgreet", "2.0-1", "", "pool/main/libg/libgreet/libgreet_2.0-1_amd64.deb"},
	} {
		fmt.Fprintf(&packages, "Package: %s\nVersion: %s\nArchitecture: amd64\nPriority: optional\n", p.name, p.ver)
		if p.deps != "" {
			fmt.Fprintf(&packages, "Depends: %s\n", p.deps)
		}
		fmt.Fprintf(&packages, "Filename: %s\nSize: %d\nSHA256: %s\nDescription: test\n\n", p.file, len(debs[p.file]), sha(debs[p.file]))
		a.files[p.file] = debs[p.file]
	}
	pxz := compress(t, "xz", []byte(packages.String()))
	dir := "dists/bookworm/main/binary-amd64/"
	if opt.byHash {
		a.files[dir+"by-hash/SHA256/"+sha(pxz)] = pxz
	} else {
		a.files[dir+"Packages.xz"] = pxz
	}

	release := "Origin: Test\nSuite: stable\nCodename: bookworm\nDate: " + time.Now().UTC().Format(time.RFC1123) +
		"\nArchitectures: amd64 arm64\nComponents: main\n"
	if !opt.validUntil.IsZero() {
		release += "Valid-Until: " + opt.validUntil.UTC().Format(time.RFC1123) + "\n"
	}
	if opt.byHash {
		release += "Acquire-By-Hash: yes\n"
	}
	release += fmt.Sprintf("SHA256:\n %s %d main/binary-amd64/Packages.xz\n %s %d main/binary-amd64/Packages\n",
		sha(pxz), len(pxz), sha([]byte(packages.String())), packages.Len())
	a.files["dists/bookworm/InRelease"] = clearsignText(t, a.key, release)

	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		name := strings.TrimPrefix(r.URL.Path, "/debian/")
		a.hits[name]++
		data, ok := a.files[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *testArchive) set(name string, data []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.files[name] = data
}

func (a *testArchive) get(name string) []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return bytes.Clone(a.files[name])
}

func (a *testArchive) hitCount(name string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hits[name]
}

func (a *testArchive) client(t *testing.T) *Client {
	return &Client{Mirror: a.srv.URL + "/debian/", Suite: "bookworm", Arch: "amd64",
		Keyring: a.keyring, CacheDir: t.TempDir()}
}

func TestClientEndToEnd(t *testing.T) {
	for _, byHash := range []bool{false, true} {
		t.Run(fmt.Sprintf("byHash=%v", byHash), func(t *testing.T) {
			a := newTestArchive(t, archiveOpts{byHash: byHash, validUntil: time.Now().Add(time.Hour)})
			c := a.client(t)
			var mu sync.Mutex
			var last, total int64
			c.Progress = func(d, tot int64) {
				mu.Lock()
				defer mu.Unlock()
				last, total = d, tot
			}
			ctx := context.Background()
			rel, err := c.Release(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rel.Codename != "bookworm" || rel.Suite != "stable" || rel.AcquireByHash != byHash || len(rel.Files) != 2 {
				t.Errorf("release %+v", rel)
			}
			if rel.Signer != strings.ToUpper(hex.EncodeToString(a.key.PrimaryKey.Fingerprint)) {
				t.Errorf("signer %s", rel.Signer)
			}
			ix, err := c.Index(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ix.Len() != 2 {
				t.Fatalf("index has %d packages", ix.Len())
			}
			if _, err := ix.Resolve(Minbase, nil); !errors.Is(err, ErrUnresolvable) || !strings.Contains(err.Error(), "apt is not in the index") {
				t.Fatalf("minbase without apt: %v", err)
			}
			pkgs, err := ix.Resolve(NoBase, []string{"hello"})
			if err != nil || names(pkgs) != "hello=1.0-1 libgreet=2.0-1" {
				t.Fatalf("Resolve(hello) = %s, %v", names(pkgs), err)
			}
			hello := pkgs[0]
			paths, err := c.Fetch(ctx, pkgs)
			if err != nil {
				t.Fatal(err)
			}
			if last != total || total != hello.Size+pkgs[1].Size {
				t.Errorf("progress %d/%d", last, total)
			}
			if want := filepath.Join(c.CacheDir, "debs/sha256", hello.SHA256); paths[0] != want {
				t.Errorf("path %s, want %s", paths[0], want)
			}
			d, err := OpenDeb(paths[0])
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			ctl, err := d.Control()
			if err != nil || ctl.Fields.Get("Version") != "1.0-1" {
				t.Fatalf("control %v %v", ctl, err)
			}
			dest := t.TempDir()
			if _, err := d.ExtractData(ctx, dest, ExtractOptions{}); err != nil {
				t.Fatal(err)
			}
			checkHelloTree(t, dest, os.Geteuid() == 0, os.Geteuid() == 0)

			// Everything is cached now: a second round downloads no .deb and
			// no Packages index again.
			if _, err := c.Index(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Fetch(ctx, pkgs); err != nil {
				t.Fatal(err)
			}
			for name := range a.files {
				if !strings.HasSuffix(name, "InRelease") && a.hitCount(name) != 1 {
					t.Errorf("%s fetched %d times", name, a.hitCount(name))
				}
			}
		})
	}
}

func TestReleaseRejected(t *testing.T) {
	a := newTestArchive(t, archiveOpts{})
	good := a.get("dists/bookworm/InRelease")
	other := newKey(t)
	plain := good[bytes.Index(good, []byte("Origin")):bytes.Index(good, []byte("-----BEGIN PGP SIGNATURE"))]
	tests := []struct {
		name    string
		inrel   []byte
		keyring string
		want    error
	}{
		{"tampered", bytes.Replace(good, []byte("Codename: bookworm"), []byte("Codename: bookwork"), 1), "", ErrSignature},
		{"tampered hash", bytes.Replace(good, []byte("main/binary-amd64/Packages.xz"), []byte("main/binary-amd64/Packages.gz"), 1), "", ErrSignature},
		{"unsigned", plain, "", ErrSignature},
		{"other key", good, writeKeyring(t, other), ErrSignature},
		{"signed for another suite", clearsignText(t, a.key, strings.Replace(string(plain), "bookworm", "trixie", 1)), "", ErrSignature},
		{"expired", clearsignText(t, a.key, strings.Replace(string(plain), "Components:", "Valid-Until: Sat, 01 Jan 2000 00:00:00 UTC\nComponents:", 1)), "", ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.set("dists/bookworm/InRelease", tt.inrel)
			c := a.client(t)
			if tt.keyring != "" {
				c.Keyring = tt.keyring
			}
			_, err := c.Index(context.Background())
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), a.srv.URL+"/debian/dists/bookworm/InRelease") {
				t.Errorf("error %q does not name the URL", err)
			}
			if tt.want == ErrExpired {
				c.AllowExpired = true
				if _, err := c.Index(context.Background()); err != nil {
					t.Errorf("AllowExpired: %v", err)
				}
			}
		})
	}
}

func TestPackagesChecksum(t *testing.T) {
	a := newTestArchive(t, archiveOpts{})
	name := "dists/bookworm/main/binary-amd64/Packages.xz"
	bad := a.get(name)
	bad[len(bad)/2] ^= 1
	a.set(name, bad)
	c := a.client(t)
	_, err := c.Index(context.Background())
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "Packages.xz") {
		t.Fatalf("error = %v, want ErrChecksum naming Packages.xz", err)
	}
	a.set(name, append(a.get(name), 0))
	if _, err := c.Index(context.Background()); !errors.Is(err, ErrChecksum) {
		t.Fatalf("longer file: error = %v, want ErrChecksum", err)
	}
	if left, _ := filepath.Glob(filepath.Join(c.CacheDir, "lists/sha256/*")); len(left) != 0 {
		t.Errorf("rejected download left in the cache: %v", left)
	}
}

func TestDebChecksum(t *testing.T) {
	a := newTestArchive(t, archiveOpts{})
	c := a.client(t)
	ix, err := c.Index(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	hello := ix.Lookup("hello")
	bad := a.get(hello.Filename)
	bad[len(bad)-1] ^= 1
	a.set(hello.Filename, bad)
	_, err = c.Fetch(context.Background(), []*Package{ix.Lookup("libgreet"), hello})
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "hello 1.0-1") || !strings.Contains(err.Error(), hello.Filename) {
		t.Fatalf("error = %v, want ErrChecksum naming the package and URL", err)
	}
	if _, err := os.Stat(filepath.Join(c.CacheDir, "debs/sha256", hello.SHA256)); err == nil {
		t.Error("corrupt .deb stored in the cache")
	}
	a.mu.Lock()
	delete(a.files, hello.Filename)
	a.mu.Unlock()
	_, err = c.Fetch(context.Background(), []*Package{hello})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusNotFound || !strings.Contains(err.Error(), hello.Filename) {
		t.Fatalf("missing .deb: error = %v, want a 404 StatusError naming it", err)
	}
}

func TestCachedDebTampered(t *testing.T) {
	a := newTestArchive(t, archiveOpts{})
	c := a.client(t)
	ctx := context.Background()
	ix, err := c.Index(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hello := ix.Lookup("hello")
	paths, err := c.Fetch(ctx, []*Package{hello})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	data[100] ^= 1
	if err := os.WriteFile(paths[0], data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = c.Fetch(ctx, []*Package{hello})
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "hello") || !strings.Contains(err.Error(), paths[0]) {
		t.Fatalf("error = %v, want ErrChecksum naming package and file", err)
	}
}

func TestFetchCanceled(t *testing.T) {
	a := newTestArchive(t, archiveOpts{})
	c := a.client(t)
	ix, err := c.Index(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Fetch(ctx, []*Package{ix.Lookup("hello")}); !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
}
