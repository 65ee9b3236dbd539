package release

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/colinux-ng/colinux/internal/testutil"
)

// The stock tools read what Publish wrote: minisign verifies both
// signatures, sha256sum -c every published file, and zstd -d gives back the
// image's bytes (the seek table is a skippable frame to it).
func TestReleaseStockTools(t *testing.T) {
	fx := newFixture(t)
	minisign := testutil.RequireTool(t, "minisign")
	for _, f := range []string{IndexFile, SumsFile} {
		testutil.Run(t, minisign, "-V", "-m", filepath.Join(fx.dist, f), "-p", fx.pubFile)
	}
	cmd := exec.Command(testutil.RequireTool(t, "sha256sum"), "-c", SumsFile)
	cmd.Dir = fx.dist
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, out)
	} else if n := strings.Count(string(out), ": OK"); n != 4 {
		t.Fatalf("sha256sum checked %d files, want 4 (image, manifest, index, signature):\n%s", n, out)
	}
	im := fx.index.Images[0]
	got := filepath.Join(t.TempDir(), "out.img")
	testutil.Run(t, testutil.RequireTool(t, "zstd"), "-q", "-d", filepath.Join(fx.dist, im.Path), "-o", got)
	if !bytes.Equal(mustRead(t, got), mustRead(t, fx.img)) {
		t.Fatal("zstd -d does not give the image's bytes")
	}
	if len(im.Frames) != 6 || im.FrameSize != testFrame || im.Packages != 2 || im.OS != "debian" || im.Release != "bookworm" {
		t.Fatalf("index entry: %+v", im)
	}
	if im.Aliases[0] != "debian-bookworm" {
		t.Fatalf("aliases %q", im.Aliases)
	}
}

// Signatures made by the stock minisign with our unencrypted secret key
// verify here too.
func TestVerifyMinisignSignature(t *testing.T) {
	minisign := testutil.RequireTool(t, "minisign")
	prefix := filepath.Join(t.TempDir(), "k")
	pub, key, err := GenerateKey(prefix, "")
	if err != nil {
		t.Fatal(err)
	}
	msg := filepath.Join(t.TempDir(), "msg")
	os.WriteFile(msg, []byte("hello"), 0o644)
	cmd := exec.Command(minisign, "-S", "-s", key, "-m", msg)
	cmd.Stdin = strings.NewReader("\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("minisign -S: %v\n%s", err, out)
	}
	k, _ := LoadPublicKey(pub)
	if err := Verify([]Key{k}, []byte("hello"), mustRead(t, msg+SigSuffix), msg); err != nil {
		t.Fatal(err)
	}
	if err := Verify([]Key{k}, []byte("hellO"), mustRead(t, msg+SigSuffix), msg); !errors.Is(err, ErrSignature) {
		t.Fatalf("a changed message verified: %v", err)
	}
}

// Encrypting a key costs seconds: minisign's scrypt parameters are fixed.
func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "k")
	if _, _, err := GenerateKey(prefix, "secret"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := GenerateKey(prefix, ""); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("overwrote a key: %v", err)
	}
	if fi, _ := os.Stat(prefix + ".key"); fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret key mode %v", fi.Mode())
	}
	if _, err := LoadPrivateKey(prefix+".key", ""); err == nil || !strings.Contains(err.Error(), "--password-file") {
		t.Fatalf("encrypted key without password: %v", err)
	}
	if _, err := LoadPrivateKey(prefix+".key", "secret"); err != nil {
		t.Fatal(err)
	}
}

func TestPullHTTP(t *testing.T) {
	fx := newFixture(t)
	p := fx.puller(t)
	res, err := p.Pull(context.Background(), "testos-1", "", false)
	if err != nil {
		t.Fatal(err)
	}
	im := fx.index.Images[0]
	if want := filepath.Join(p.CacheDir, "images", "testos-1", itoa(im.Serial)+".img"); res.Path != want || res.Cached {
		t.Fatalf("pulled to %s (cached %v), want %s", res.Path, res.Cached, want)
	}
	if !bytes.Equal(mustRead(t, res.Path), mustRead(t, fx.img)) {
		t.Fatal("pulled image differs")
	}
	if alloc := testutil.AllocatedBytes(t, res.Path); alloc >= im.Size {
		t.Errorf("pulled image allocates %d of %d bytes: zero blocks should be holes", alloc, im.Size)
	}
	n := len(fx.srv.requests())
	for _, ref := range []string{"testos-1:" + itoa(im.Serial), "debian-bookworm"} {
		again, err := p.Pull(context.Background(), ref, "", false)
		if err != nil || !again.Cached || again.Path != res.Path {
			t.Fatalf("pull %s again: %+v, %v", ref, again, err)
		}
	}
	if reqs := fx.srv.requests()[n:]; len(reqs) != 4 { // index and signature, twice
		t.Fatalf("a cached image was downloaded again: %q", reqs)
	}
	list, err := Cached(p.CacheDir)
	if err != nil || len(list) != 1 || list[0].Image.SHA256 != im.SHA256 || list[0].Path != res.Path {
		t.Fatalf("Cached: %+v, %v", list, err)
	}
	if _, err := os.Stat(filepath.Join(p.CacheDir, "downloads", im.CompressedSHA256+".zst")); err == nil {
		t.Error("the compressed download was kept")
	}
}

func TestPullFileURLAndOutput(t *testing.T) {
	fx := newFixture(t)
	p := fx.puller(t)
	p.Index = "file://" + filepath.ToSlash(fx.dist) + "/"
	out := filepath.Join(t.TempDir(), "my.img")
	if _, err := p.Pull(context.Background(), "testos-1", out, false); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustRead(t, out), mustRead(t, fx.img)) {
		t.Fatal("pulled image differs")
	}
	if _, err := p.Pull(context.Background(), "testos-1", out, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("replaced an existing output: %v", err)
	}
	if _, err := p.Pull(context.Background(), "testos-1", out, true); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(filepath.Join(p.CacheDir, "images")); len(entries) != 0 {
		t.Fatal("an --output pull wrote to the image cache")
	}
}

// Releasing again adds a serial; --keep drops the oldest, from the index
// and the disk; the kept files still check out.
func TestReleaseAgainKeep(t *testing.T) {
	fx := newFixture(t)
	first := fx.index.Images[0]
	var last *Result
	for i := 1; i <= 2; i++ {
		var err error
		last, err = Publish(context.Background(), []string{fx.img}, Options{Key: fx.key, Out: fx.dist, FrameSize: testFrame, Level: testLevel, Keep: 2,
			Now: time.Now().Add(time.Duration(i) * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := len(last.Index.Images); n != 2 {
		t.Fatalf("%d images kept, want 2", n)
	}
	if s := last.Index.Images[0].Serial; s <= last.Index.Images[1].Serial || s <= first.Serial {
		t.Fatalf("serials %d, %d after %d", s, last.Index.Images[1].Serial, first.Serial)
	}
	assertMissing(t, filepath.Join(fx.dist, filepath.Dir(first.Path)))
	cmd := exec.Command(testutil.RequireTool(t, "sha256sum"), "-c", "--strict", SumsFile)
	cmd.Dir = fx.dist
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, out)
	}
	// The puller takes the newest serial.
	res, err := fx.puller(t).Pull(context.Background(), "testos-1", "", false)
	if err != nil || res.Image.Serial != last.Index.Images[0].Serial {
		t.Fatalf("pulled %+v, %v", res, err)
	}
	// With no image, the index is signed again with a new expiry.
	re, err := Publish(context.Background(), nil, Options{Key: fx.key, Out: fx.dist, ValidFor: time.Hour})
	if err != nil || len(re.Index.Images) != 2 || time.Until(re.Index.Expires) > time.Hour {
		t.Fatalf("re-sign: %+v, %v", re, err)
	}
}

// treeState is every file below dir with its bytes.
func treeState(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			m[p] = string(mustRead(t, p))
		}
		return nil
	})
	return m
}

func sameTree(t *testing.T, before, after map[string]string) {
	t.Helper()
	var diff []string
	for p, v := range after {
		if before[p] != v {
			diff = append(diff, "changed or new "+p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			diff = append(diff, "removed "+p)
		}
	}
	sort.Strings(diff)
	if len(diff) > 0 {
		t.Fatalf("a failed release changed the directory: %s", strings.Join(diff, "; "))
	}
}

// A failed release leaves the directory as it was: a bad second image after
// a good one, a release signed by another key, a kept file that changed.
func TestReleaseFailureLeavesDir(t *testing.T) {
	fx := newFixture(t)
	notImage := filepath.Join(t.TempDir(), "junk.img")
	os.WriteFile(notImage, bytes.Repeat([]byte{1}, 4096), 0o644)
	other, _, _ := testKey(t)
	before := treeState(t, fx.dist)

	_, err := Publish(context.Background(), []string{fx.img, notImage}, Options{Key: fx.key, Out: fx.dist, FrameSize: testFrame, Level: testLevel})
	if err == nil || !strings.Contains(err.Error(), "not a cobd image") {
		t.Fatalf("err = %v", err)
	}
	sameTree(t, before, treeState(t, fx.dist))

	_, err = Publish(context.Background(), []string{fx.img}, Options{Key: other, Out: fx.dist, FrameSize: testFrame, Level: testLevel})
	if !errors.Is(err, ErrSignature) {
		t.Fatalf("released into a directory signed by another key: %v", err)
	}
	sameTree(t, before, treeState(t, fx.dist))

	blob := filepath.Join(fx.dist, fx.index.Images[0].Path)
	data := mustRead(t, blob)
	data[100] ^= 1
	os.WriteFile(blob, data, 0o644)
	before = treeState(t, fx.dist)
	_, err = Publish(context.Background(), []string{fx.img}, Options{Key: fx.key, Out: fx.dist, FrameSize: testFrame, Level: testLevel})
	if err == nil || !strings.Contains(err.Error(), "changed") {
		t.Fatalf("re-signed a changed file: %v", err)
	}
	sameTree(t, before, treeState(t, fx.dist))

	// An image that no longer matches its build manifest.
	img := makeImage(t, t.TempDir(), "testos-2")
	f, _ := os.OpenFile(img, os.O_WRONLY, 0)
	f.WriteAt([]byte("x"), 5<<20)
	f.Close()
	fresh := filepath.Join(t.TempDir(), "new")
	_, err = Publish(context.Background(), []string{img}, Options{Key: fx.key, Out: fresh, FrameSize: testFrame, Level: testLevel})
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "manifest") {
		t.Fatalf("released an image its manifest does not describe: %v", err)
	}
	assertMissing(t, fresh)
}

func TestPrune(t *testing.T) {
	fx := newFixture(t)
	p := fx.puller(t)
	if _, err := p.Pull(context.Background(), "testos-1", "", false); err != nil {
		t.Fatal(err)
	}
	if _, err := Publish(context.Background(), []string{fx.img}, Options{Key: fx.key, Out: fx.dist, FrameSize: testFrame, Level: testLevel,
		Now: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	newest, err := p.Pull(context.Background(), "testos-1", "", false)
	if err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(p.CacheDir, "downloads", "abc.zst.part")
	os.WriteFile(leftover, []byte("x"), 0o644)
	if list, _ := Cached(p.CacheDir); len(list) != 2 {
		t.Fatalf("%d cached, want 2", len(list))
	}
	removed, err := Prune(p.CacheDir, 1)
	if err != nil || len(removed) != 3 { // the older image, its record, the leftover
		t.Fatalf("removed %q, %v", removed, err)
	}
	list, _ := Cached(p.CacheDir)
	if len(list) != 1 || list[0].Path != newest.Path {
		t.Fatalf("kept %+v", list)
	}
}

// DefaultPuller reads the index URL and the trusted keys from
// $XDG_CONFIG_HOME/colinux and caches in $XDG_CACHE_HOME/colinux: what
// corun run NAME uses.
func TestDefaultPullerResolve(t *testing.T) {
	fx := newFixture(t)
	cfg, cache := t.TempDir(), t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("XDG_CACHE_HOME", cache)
	p, err := DefaultPuller()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Pull(context.Background(), "testos-1", "", false); err == nil || !strings.Contains(err.Error(), "--index") {
		t.Fatalf("unconfigured pull: %v", err)
	}
	os.MkdirAll(filepath.Join(cfg, "colinux", "keys"), 0o755)
	os.WriteFile(filepath.Join(cfg, "colinux", "index"), []byte("# the project's images\n"+fx.url+"\n"), 0o644)
	_, old, _ := testKey(t) // rotation: an older key stays trusted beside the current one
	for i, k := range []Key{old, fx.pub} {
		text, _ := k.MarshalText()
		os.WriteFile(filepath.Join(cfg, "colinux", "keys", itoa(int64(i))+".pub"), text, 0o644)
	}
	if p, err = DefaultPuller(); err != nil {
		t.Fatal(err)
	}
	res, err := p.Pull(context.Background(), "testos-1", "", false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Path, filepath.Join(cache, "colinux", "images")) {
		t.Fatalf("cached at %s", res.Path)
	}
	for arg, want := range map[string]bool{"testos-1": true, "debian-12:20261203": true, "oci://h/r:t": true,
		"./x.img": false, "/tmp/x.img": false, "Debian": false, "x.img:": false} {
		if IsImageName(arg) != want {
			t.Errorf("IsImageName(%q) = %v", arg, !want)
		}
	}
}

// Two pulls of one image at once share the cache's download name: they
// take turns on it (fetch locks the .part), and both end with the image.
func TestPullConcurrent(t *testing.T) {
	fx := newFixture(t)
	p := fx.puller(t)
	for round := range 3 {
		res := make(chan *Pulled, 2)
		errs := make(chan error, 2)
		for range 2 {
			go func() {
				r, err := p.Pull(context.Background(), "testos-1", "", false)
				res <- r
				errs <- err
			}()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			if r := <-res; !bytes.Equal(mustRead(t, r.Path), mustRead(t, fx.img)) {
				t.Fatalf("round %d: pulled image differs", round)
			}
		}
		assertNoFiles(t, filepath.Join(p.CacheDir, "downloads"))
		os.RemoveAll(filepath.Join(p.CacheDir, "images"))
	}
}
