package bootstrap

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"

	"github.com/ulikunitz/xz"
)

// unxz decompresses an xz stream completely. Bootstrapping decompresses a
// Packages index and every data.tar.xz, so this dominates a warm build.
func unxz(ctx context.Context, r io.Reader, sizeHint int64) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(int(sizeHint))
	err := unxzTo(ctx, &out, r)
	return out.Bytes(), err
}

// unxzTo decompresses an xz stream into w.
func unxzTo(ctx context.Context, w io.Writer, r io.Reader) error {
	zr, err := xzReader(ctx, r)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, zr)
	if cerr := zr.Close(); err == nil {
		err = cerr
	}
	return err
}

// xzReader decompresses an xz stream as it is read. The host's xz
// (liblzma) decodes about eight times faster than the pure-Go decoder,
// which is the fallback when xz is not installed. Close reports a
// decoding error of the host's xz.
func xzReader(ctx context.Context, r io.Reader) (io.ReadCloser, error) {
	path, err := exec.LookPath("xz")
	if err != nil {
		zr, err := xz.NewReader(bufio.NewReader(r))
		if err != nil {
			return nil, err
		}
		return io.NopCloser(zr), nil
	}
	cmd := exec.CommandContext(ctx, path, "--decompress", "--stdout")
	cmd.Stdin = r
	cmd.Stderr = &bytes.Buffer{}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &cmdReader{ReadCloser: out, cmd: cmd}, nil
}

// cmdReader is a command's output; Close waits for the command.
type cmdReader struct {
	io.ReadCloser
	cmd *exec.Cmd
}

func (c *cmdReader) Close() error {
	io.Copy(io.Discard, c.ReadCloser) // let xz finish rather than die of SIGPIPE
	if err := c.cmd.Wait(); err != nil {
		return fmt.Errorf("xz: %v: %s", err, bytes.TrimSpace(c.cmd.Stderr.(*bytes.Buffer).Bytes()))
	}
	return nil
}
