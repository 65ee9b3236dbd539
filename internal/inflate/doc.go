// Package inflate decompresses whole deflate streams in one call with
// libdeflate, built in through cgo: about four times as fast as the
// pure-Go decoders on qcow2 clusters and vmdk grains, whose inflate is most
// of a compressed image's convert time. Without cgo (CGO_ENABLED=0, as the
// release binaries are built) or with the purego tag, Available is false
// and every call says no, so callers keep their streaming Go decoder as the
// one that decides: this package only ever answers the easy case fast, and
// leaves damaged, short or overlong streams, and their error messages, to
// the Go decoder.
package inflate
