// Package fetch is the one download layer: it reads http(s):// and file://
// URLs (and any other Source, such as a registry blob), verifies size and
// SHA256 while the bytes stream, resumes an interrupted download from its
// .part file with a Range request, retries transient failures with
// backoff, and keeps verified files in a content-addressed cache.
//
// It uses only portable calls, so it builds for every GOOS.
package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Sentinel errors, matched with errors.Is; the wrapping error names the URL
// or file.
var (
	// ErrChecksum: the bytes do not have the expected SHA256.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrTruncated: the source ended before the expected size.
	ErrTruncated = errors.New("truncated download")
	// ErrTooLarge: the source holds more than the expected size.
	ErrTooLarge = errors.New("download larger than expected")
)

// Digest is what signed metadata promises about a file.
type Digest struct {
	SHA256 string // lowercase hex
	Size   int64
}

// StatusError reports an HTTP response other than the one asked for.
type StatusError struct {
	URL    string
	Status string
	Code   int
}

func (e *StatusError) Error() string { return fmt.Sprintf("GET %s: %s", e.URL, e.Status) }

// Client downloads with retries. The zero value works.
type Client struct {
	HTTP *http.Client // default: DefaultHTTPClient()
	// Tries is how many times one download is attempted; default 5.
	Tries int
	// Backoff is the wait after the first failed attempt, doubled after
	// each further one; default 1 s.
	Backoff time.Duration
	// Stall aborts an attempt that received nothing for this long (then
	// it is retried); default 60 s.
	Stall time.Duration
	// Progress, when set, receives the length of every chunk written.
	Progress func(n int64)
}

// DefaultHTTPClient bounds connection set-up so a dead server fails fast;
// there is no overall limit, since images are large: Client.Stall catches
// a transfer that stops moving.
func DefaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSHandshakeTimeout = 15 * time.Second
	t.ResponseHeaderTimeout = 30 * time.Second
	return &http.Client{Transport: t}
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return DefaultHTTPClient()
}

func (c *Client) tries() int {
	if c.Tries > 0 {
		return c.Tries
	}
	return 5
}

func (c *Client) backoff(attempt int) time.Duration {
	d := c.Backoff
	if d <= 0 {
		d = time.Second
	}
	return d << min(attempt, 6)
}

func (c *Client) stall() time.Duration {
	if c.Stall > 0 {
		return c.Stall
	}
	return time.Minute
}

// retry runs attempt until it succeeds, fails permanently, or Tries are
// used up, sleeping with exponential backoff in between.
func (c *Client) retry(ctx context.Context, attempt func(ctx context.Context) error) error {
	var err error
	for i := 0; i < c.tries(); i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(c.backoff(i - 1)):
			}
		}
		if err = attempt(ctx); err == nil || !Retryable(err) || ctx.Err() != nil {
			return err
		}
	}
	return fmt.Errorf("%w (gave up after %d tries)", err, c.tries())
}

// Retryable reports whether err may go away on another attempt: network
// failures, a body cut short, and server-side HTTP errors. A checksum
// mismatch, a 404 or a cancelled context never do.
func Retryable(err error) bool {
	var se *StatusError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, ErrChecksum), errors.Is(err, ErrTruncated), errors.Is(err, ErrTooLarge):
		return false
	case errors.As(err, &se):
		return se.Code >= 500 || se.Code == http.StatusTooManyRequests || se.Code == http.StatusRequestTimeout
	case errors.As(err, new(permanent)):
		return false
	}
	return true
}

// Permanent marks err as one that another attempt would not cure.
func Permanent(err error) error { return permanent{err} }

type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// Get reads a whole small file (an index, a signature) of at most limit
// bytes, with retries.
func (c *Client) Get(ctx context.Context, src Source, limit int64) ([]byte, error) {
	var data []byte
	err := c.retry(ctx, func(ctx context.Context) error {
		body, err := src.Open(ctx, 0)
		if err != nil {
			return err
		}
		defer body.Close()
		data, err = io.ReadAll(io.LimitReader(body, limit+1))
		if err != nil {
			return fmt.Errorf("read %s: %w", src, err)
		}
		if int64(len(data)) > limit {
			return fmt.Errorf("%s: larger than %d bytes: %w", src, limit, ErrTooLarge)
		}
		return nil
	})
	return data, err
}

// Verify compares what was read with what was promised.
func Verify(name string, size int64, sum []byte, want Digest) error {
	if size != want.Size {
		return fmt.Errorf("%s: %d bytes, expected %d: %w", name, size, want.Size, ErrChecksum)
	}
	if got := hex.EncodeToString(sum); got != want.SHA256 {
		return fmt.Errorf("%s: SHA256 %s, expected %s: %w", name, got, want.SHA256, ErrChecksum)
	}
	return nil
}

// IsSHA256 reports whether s is a lowercase hex SHA256.
func IsSHA256(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
