package archive

import (
	"context"
	"sync"

	"golang.org/x/sync/errgroup"
)

// fetchWorkers is how many .debs download at once: enough to hide latency
// on small packages without hammering a mirror.
const fetchWorkers = 8

// Fetch makes every package's .deb available in the cache, downloading the
// missing ones fetchWorkers at a time, and returns their paths in the order
// of pkgs. Every file, downloaded or cached, is checked against the size and
// SHA256 of its Packages entry first.
func (c *Client) Fetch(ctx context.Context, pkgs []*Package) ([]string, error) {
	return c.FetchEach(ctx, pkgs, nil)
}

// FetchEach is Fetch that also calls each(i, path) as soon as pkgs[i] is
// in the cache and verified, from the downloading goroutine, so that a
// caller can start on it while the others download.
func (c *Client) FetchEach(ctx context.Context, pkgs []*Package, each func(i int, path string)) ([]string, error) {
	s, err := c.settings()
	if err != nil {
		return nil, err
	}
	var (
		total int64
		done  int64
		mu    sync.Mutex
	)
	for _, p := range pkgs {
		total += p.Size
	}
	var progress func(int64)
	if c.Progress != nil {
		progress = func(n int64) {
			mu.Lock()
			defer mu.Unlock()
			done += n
			c.Progress(done, total)
		}
	}
	paths := make([]string, len(pkgs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fetchWorkers)
	for i, p := range pkgs {
		g.Go(func() error {
			path, err := s.cached(gctx, debsArea, s.mirror+"/"+p.Filename, p.Hash(), "package "+p.String(), progress)
			paths[i] = path
			if err == nil && each != nil {
				each(i, path)
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return paths, nil
}
