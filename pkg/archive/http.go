package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
)

// open issues a GET and returns the body of a 200 response.
func (s *settings) open(ctx context.Context, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return nil, err // *url.Error already names the URL
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, &StatusError{URL: url, Status: resp.Status, Code: resp.StatusCode}
	}
	return resp.Body, nil
}

// getSmall reads a whole response of at most limit bytes.
func (s *settings) getSmall(ctx context.Context, url string, limit int64) ([]byte, error) {
	body, err := s.open(ctx, url)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", url, limit)
	}
	return data, nil
}

// download streams url into w and fails with ErrChecksum unless exactly
// want.Size bytes with SHA256 want.SHA256 arrive. progress, if not nil,
// receives each chunk's length.
func (s *settings) download(ctx context.Context, url string, w io.Writer, want FileHash, progress func(int64)) error {
	body, err := s.open(ctx, url)
	if err != nil {
		return err
	}
	defer body.Close()
	h := sha256.New()
	dst := io.MultiWriter(w, h)
	if progress != nil {
		dst = io.MultiWriter(dst, progressWriter(progress))
	}
	n, err := io.Copy(dst, io.LimitReader(body, want.Size+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return want.Check(url, n, hex.EncodeToString(h.Sum(nil)))
}

// Check compares what was read of name (size bytes with SHA256 sum, in
// hex) with what the signed metadata promised.
func (want FileHash) Check(name string, size int64, sum string) error {
	if size != want.Size {
		return fmt.Errorf("%s: %d bytes, expected %d: %w", name, size, want.Size, ErrChecksum)
	}
	if sum != want.SHA256 {
		return fmt.Errorf("%s: SHA256 %s, expected %s: %w", name, sum, want.SHA256, ErrChecksum)
	}
	return nil
}

type progressWriter func(int64)

func (p progressWriter) Write(b []byte) (int, error) {
	p(int64(len(b)))
	return len(b), nil
}
