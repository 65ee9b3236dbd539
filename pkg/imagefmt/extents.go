package imagefmt

import (
	"fmt"
	"io"
)

// clipRead checks a read of len(p) bytes at off from a disk of size bytes:
// err is io.EOF at or past the end and an error for a negative offset;
// otherwise p is cut at the end, and eof is io.EOF if it was.
func clipRead(format Format, p []byte, off, size int64) (_ []byte, eof, err error) {
	switch {
	case off < 0:
		return nil, nil, fmt.Errorf("%s: negative offset %d", format, off)
	case off >= size:
		return nil, nil, io.EOF
	case int64(len(p)) > size-off:
		return p[:size-off], io.EOF, nil
	}
	return p, nil, nil
}

// appendExtent appends x to sorted extents, merging it with the last one
// when they touch.
func appendExtent(ext []Extent, x Extent) []Extent {
	if x.Length <= 0 {
		return ext
	}
	if n := len(ext); n > 0 && ext[n-1].Offset+ext[n-1].Length >= x.Offset {
		end := max(ext[n-1].Offset+ext[n-1].Length, x.Offset+x.Length)
		ext[n-1].Length = end - ext[n-1].Offset
		return ext
	}
	return append(ext, x)
}

// intersectExtents returns the parts of a that lie within b; both are
// sorted and free of overlaps.
func intersectExtents(a, b []Extent) []Extent {
	var out []Extent
	for len(a) > 0 && len(b) > 0 {
		start := max(a[0].Offset, b[0].Offset)
		aEnd, bEnd := a[0].Offset+a[0].Length, b[0].Offset+b[0].Length
		out = appendExtent(out, Extent{Offset: start, Length: min(aEnd, bEnd) - start})
		if aEnd < bEnd {
			a = a[1:]
		} else {
			b = b[1:]
		}
	}
	return out
}

// unionExtents merges two sorted extent lists.
func unionExtents(a, b []Extent) []Extent {
	out := make([]Extent, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		if len(b) == 0 || (len(a) > 0 && a[0].Offset <= b[0].Offset) {
			out, a = appendExtent(out, a[0]), a[1:]
		} else {
			out, b = appendExtent(out, b[0]), b[1:]
		}
	}
	return out
}

// subtractExtent returns the parts of sorted extents a outside x.
func subtractExtent(a []Extent, x Extent) []Extent {
	var out []Extent
	xEnd := x.Offset + x.Length
	for _, e := range a {
		eEnd := e.Offset + e.Length
		if eEnd <= x.Offset || e.Offset >= xEnd {
			out = append(out, e)
			continue
		}
		if e.Offset < x.Offset {
			out = append(out, Extent{Offset: e.Offset, Length: x.Offset - e.Offset})
		}
		if eEnd > xEnd {
			out = append(out, Extent{Offset: xEnd, Length: eEnd - xEnd})
		}
	}
	return out
}
