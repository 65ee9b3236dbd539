// Package inflate decompresses whole deflate streams in one call with
// libdeflate, built in through cgo: about four times as fast as the
// pure-Go decoders on qcow2 clusters and vmdk grains, whose inflate is most
// of a compressed image's convert time. Without cgo (CGO_ENABLED=0, as the
// release binaries are built) or with the purego tag, Available is false
// and every call says no, so callers keep their streaming Go decoder as the
// one that decides: this package only ever answers the easy case fast, and
// leaves damaged, short or overlong streams, and their error messages, to
// the Go decoder. One exception, by libdeflate's design: a stream using
// symbols RFC 1951 reserves (length symbol 286 in a fixed Huffman block,
// for one) it reads where zlib, and so qemu-img, stops with an error. No
// compressor writes them; raw deflate carries no checksum, so such damage
// is no more detectable than a flipped literal, and the output never grows
// past the cluster or grain it fills.
package inflate
