package x11test

import (
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"math/bits"
)

// decodeXWD reads what `xwd -root` writes of a TrueColor screen (ZPixmap,
// 24 or 32 bits per pixel) — all Xvfb's 24-bit screens give. Decoding it
// here spares the tests ImageMagick, whose `convert` a host may shadow.
func decodeXWD(b []byte) (image.Image, error) {
	const headerWords = 25
	if len(b) < 4*headerWords {
		return nil, fmt.Errorf("xwd: %d bytes, shorter than its header", len(b))
	}
	var h [headerWords]uint32
	for i := range h {
		h[i] = binary.BigEndian.Uint32(b[4*i:])
	}
	headerSize, version, format := h[0], h[1], h[2]
	width, height, byteOrder := int(h[4]), int(h[5]), h[7]
	bpp, stride := int(h[11]), int(h[12])
	masks := [3]uint32{h[14], h[15], h[16]}
	ncolors := int(h[19])
	if version != 7 || format != 2 || (bpp != 24 && bpp != 32) {
		return nil, fmt.Errorf("xwd: version %d, format %d, %d bits per pixel; want 7, ZPixmap, 24 or 32", version, format, bpp)
	}
	data := int(headerSize) + 12*ncolors
	if width <= 0 || height <= 0 || stride < width*bpp/8 || data < 0 || data+stride*height > len(b) {
		return nil, fmt.Errorf("xwd: %dx%d, %d bytes a line, does not fit in %d bytes", width, height, stride, len(b))
	}
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	for y := 0; y < height; y++ {
		line := b[data+y*stride:]
		for x := 0; x < width; x++ {
			var px uint32
			for i := 0; i < bpp/8; i++ {
				v := uint32(line[x*bpp/8+i])
				if byteOrder == 0 { // LSBFirst
					px |= v << (8 * i)
				} else {
					px = px<<8 | v
				}
			}
			img.Set(x, y, color.RGBA{channel(px, masks[0]), channel(px, masks[1]), channel(px, masks[2]), 0xff})
		}
	}
	return img, nil
}

// channel is px's 8-bit value under an 8-bit-wide mask.
func channel(px, mask uint32) uint8 {
	return uint8((px & mask) >> bits.TrailingZeros32(mask))
}
