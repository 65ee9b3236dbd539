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

// unxz decompresses an xz stream completely. The host's xz (liblzma)
// decodes about eight times faster than the pure-Go decoder, which is the
// fallback when xz is not installed. Bootstrapping decompresses a Packages
// index and every data.tar.xz, so this dominates a warm build.
func unxz(ctx context.Context, r io.Reader, sizeHint int64) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(int(sizeHint))
	path, err := exec.LookPath("xz")
	if err != nil {
		zr, err := xz.NewReader(bufio.NewReader(r))
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(&out, zr)
		return out.Bytes(), err
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "--decompress", "--stdout")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r, &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("xz: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out.Bytes(), nil
}
