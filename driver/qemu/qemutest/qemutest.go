// Package qemutest gives tests what a QEMU guest boots with: Debian's
// cloud kernel and virtiofsd, from a runtime cache, fetched through the
// verified archive client on first use. Without a reachable mirror the
// test is skipped, except under CI=true, where that is a failure; so is a
// bad signature or a status the mirror answered with, anywhere.
package qemutest

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/colinux-ng/colinux/pkg/archive"
	"github.com/colinux-ng/colinux/runtime"
)

// fetchTimeout bounds a first fetch: tens of MiB from a mirror.
const fetchTimeout = 5 * time.Minute

// once remembers each fetch's outcome, so that parallel tests fetch once
// and every one of them skips or fails the same way.
type once struct {
	mu   sync.Mutex
	done map[string]bool
	val  map[string]any
	err  map[string]error
}

var fetched = once{done: map[string]bool{}, val: map[string]any{}, err: map[string]error{}}

func (o *once) do(key string, f func(context.Context) (any, error)) (any, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.done[key] {
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		o.val[key], o.err[key] = f(ctx)
		cancel()
		o.done[key] = true
	}
	return o.val[key], o.err[key]
}

// Kernel returns the newest cloud kernel in cache, fetched when there is
// none.
func Kernel(t testing.TB, cache runtime.Cache) runtime.Kernel {
	t.Helper()
	k, err := fetched.do("kernel "+cache.Dir, func(ctx context.Context) (any, error) {
		return cache.Ensure(ctx, runtime.Source{Monitor: runtime.QEMU})
	})
	check(t, "no cloud kernel", err)
	return k.(runtime.Kernel)
}

// Virtiofsd returns the command of the host's virtiofsd or of one in
// cache, fetched when there is none.
func Virtiofsd(t testing.TB, cache runtime.Cache) []string {
	t.Helper()
	cmd, err := fetched.do("virtiofsd "+cache.Dir, func(ctx context.Context) (any, error) {
		return cache.EnsureVirtiofsd(ctx, runtime.Source{})
	})
	check(t, "no virtiofsd", err)
	return cmd.([]string)
}

func check(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var se *archive.StatusError
	if os.Getenv("CI") != "true" && !errors.As(err, &se) && !errors.Is(err, archive.ErrSignature) {
		t.Skipf("%s: %v", what, err)
	}
	t.Fatalf("%s: %v", what, err)
}
