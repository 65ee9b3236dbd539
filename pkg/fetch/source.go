package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// ErrRangeIgnored is returned by Source.Open when the source sent the
// whole file although a later offset was asked for; the body it came with
// is closed, and Download reads past the prefix it already has instead.
var ErrRangeIgnored = errors.New("server ignored the range request")

// Source is something a download reads: a URL or a registry blob.
type Source interface {
	// Open returns the bytes from offset to the end. A source that
	// cannot start at offset returns ErrRangeIgnored.
	Open(ctx context.Context, offset int64) (io.ReadCloser, error)
	// String names the source in errors.
	String() string
}

// URL returns the Source for an http://, https:// or file:// URL.
func (c *Client) URL(raw string) (Source, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return nil, fmt.Errorf("URL %q: no host", raw)
		}
		return &httpSource{client: c.httpClient(), url: u.String()}, nil
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("URL %q: file URLs name no host", raw)
		}
		return fileSource(FilePath(u)), nil
	}
	return nil, fmt.Errorf("URL %q: scheme must be https, http or file", raw)
}

// FilePath is the local path of a file:// URL.
func FilePath(u *url.URL) string {
	p := u.Path
	// file:///C:/x on Windows.
	if runtime.GOOS == "windows" && len(p) > 2 && p[0] == '/' && p[2] == ':' {
		p = p[1:]
	}
	return filepath.FromSlash(p)
}

type httpSource struct {
	client *http.Client
	url    string
}

func (s *httpSource) String() string { return s.url }

func (s *httpSource) Open(ctx context.Context, offset int64) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", s.url, err)
	}
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err // *url.Error names the URL
	}
	switch {
	case offset == 0 && resp.StatusCode == http.StatusOK:
		return resp.Body, nil
	case offset > 0 && resp.StatusCode == http.StatusPartialContent:
		if start, ok := rangeStart(resp.Header.Get("Content-Range")); !ok || start != offset {
			resp.Body.Close()
			return nil, Permanent(fmt.Errorf("GET %s: Content-Range %q does not start at %d", s.url, resp.Header.Get("Content-Range"), offset))
		}
		return resp.Body, nil
	case offset > 0 && resp.StatusCode == http.StatusOK:
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %w", s.url, ErrRangeIgnored)
	case offset > 0 && resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: the file is now shorter than the %d bytes already downloaded: %w", s.url, offset, ErrTruncated)
	}
	resp.Body.Close()
	return nil, &StatusError{URL: s.url, Status: resp.Status, Code: resp.StatusCode}
}

// rangeStart parses the first byte position of "bytes START-END/SIZE".
func rangeStart(cr string) (int64, bool) {
	rest, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, false
	}
	start, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(start, 10, 64)
	return n, err == nil && n >= 0
}

type fileSource string

func (s fileSource) String() string { return string(s) }

func (s fileSource) Open(_ context.Context, offset int64) (io.ReadCloser, error) {
	f, err := os.Open(string(s))
	if err != nil {
		return nil, Permanent(err) // a local file does not come back by waiting
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, Permanent(err)
	}
	return f, nil
}
