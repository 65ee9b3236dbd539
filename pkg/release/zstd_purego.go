//go:build !cgo || purego

package release

// newFrameEncoder compresses frames with klauspost/compress: without cgo
// there is no libzstd, and releases come out about 10% larger.
func newFrameEncoder(level int) (frameEncoder, error) { return newGoEncoder(level) }

// newFrameDecoder decodes frames with klauspost/compress.
func newFrameDecoder() (frameDecoder, error) { return newGoDecoder() }
