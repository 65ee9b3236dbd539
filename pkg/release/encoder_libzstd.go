//go:build cgo && !purego

package release

import "github.com/DataDog/zstd"

// newFrameEncoder compresses frames with libzstd (built in through cgo;
// the purego tag or CGO_ENABLED=0 selects the pure-Go encoder instead):
// at level 19, per 32 MiB frame, it comes within about 1% of `zstd -19`
// over the whole image, where klauspost's best level stays 10% behind.
// Its output depends only on the input, the level and libzstd's version,
// which go.mod pins.
func newFrameEncoder(level int) (frameEncoder, error) {
	return libzstdEncoder{zstd.NewCtx(), level}, nil
}

type libzstdEncoder struct {
	ctx   zstd.Ctx
	level int
}

func (e libzstdEncoder) encode(raw []byte) ([]byte, error) {
	return e.ctx.CompressLevel(nil, raw, e.level)
}
func (libzstdEncoder) close() {}
