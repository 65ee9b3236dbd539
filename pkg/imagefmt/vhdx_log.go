package imagefmt

import (
	"encoding/binary"
	"io"
	"sort"
)

// A vhdx log holds metadata writes (and the data writes they depend on)
// that may not have reached their place in the file yet. Its entries form
// a circular buffer; the active sequence is the run of valid entries with
// consecutive sequence numbers whose newest entry (the head) is the newest
// of all and names, in its Tail field, the oldest. Replaying applies the
// sequence's descriptors oldest first ([MS-VHDX] 2.3).

const (
	vhdxLogSector = 4096
	// vhdxMaxLog bounds the log read into memory; QEMU and Hyper-V make
	// logs of 1 MiB.
	vhdxMaxLog = 16 << 20
	// vhdxMaxLogZeros bounds the zero descriptors replayed, each of which
	// costs a pass over the ranges replayed before it.
	vhdxMaxLogZeros = 4096
)

// vhdxLogEntry is a valid log entry's header and descriptors.
type vhdxLogEntry struct {
	at       int64 // offset within the log
	length   int64
	tail     int64
	seq      uint64
	flushed  int64 // FlushedFileOffset
	last     int64 // LastFileOffset
	zeros    []Extent
	writes   []vhdxLogWrite
	ordering []int // descriptor order: >= 0 indexes writes, < 0 is ^index into zeros
}

type vhdxLogWrite struct {
	at     int64
	sector [vhdxLogSector]byte
}

// replayVHDXLog reads the log header h names and returns the file as it
// reads after replay, or nil when the log holds no active sequence.
func replayVHDXLog(r io.ReaderAt, size int64, h vhdxHeader) (*logOverlay, error) {
	logLen, logAt := int64(h.logLength), int64(h.logOffset)
	switch {
	case logLen == 0 || logLen%vhdxMB != 0 || logAt%vhdxMB != 0 || logAt < vhdxMB:
		return nil, errorf(ErrFormat, "vhdx: log at %#x, %d bytes, is not aligned to 1 MiB", logAt, logLen)
	case logLen > vhdxMaxLog:
		return nil, errorf(ErrUnsupported, "vhdx: log of %d MiB is larger than %d MiB", logLen>>20, vhdxMaxLog>>20)
	case logAt > size-logLen:
		return nil, errorf(ErrFormat, "vhdx: log at %#x, %d bytes, is past the end of the file (%d bytes)", logAt, logLen, size)
	}
	ring := make([]byte, 2*logLen)
	if _, err := r.ReadAt(ring[:logLen], logAt); err != nil {
		return nil, readError(VHDX, err, "log", logAt)
	}
	copy(ring[logLen:], ring[:logLen])
	entries := map[int64]*vhdxLogEntry{}
	for at := int64(0); at < logLen; at += vhdxLogSector {
		if e := parseVHDXLogEntry(ring, at, h.logGUID); e != nil {
			entries[at] = e
		}
	}
	seq := activeSequence(entries, logLen)
	if seq == nil {
		return nil, nil
	}
	zeros := 0
	for _, e := range seq {
		zeros += len(e.zeros)
	}
	if zeros > vhdxMaxLogZeros {
		return nil, errorf(ErrUnsupported, "vhdx: the log zeroes %d ranges; at most %d are replayed", zeros, vhdxMaxLogZeros)
	}
	head := seq[len(seq)-1]
	if head.flushed > size {
		return nil, errorf(ErrFormat, "vhdx: the log says the file held %d bytes when it was written; it holds %d (truncated)", head.flushed, size)
	}
	// The file grows to LastFileOffset, which QEMU rounds up to 1 MiB.
	grown := (head.last + vhdxMB - 1) &^ (vhdxMB - 1)
	o := &logOverlay{r: r, fileSize: size, size: max(size, grown), sectors: map[int64]*[vhdxLogSector]byte{}}
	for _, e := range seq {
		for _, k := range e.ordering {
			if k >= 0 {
				o.write(e.writes[k].at, &e.writes[k].sector)
			} else {
				o.zero(e.zeros[^k])
			}
		}
	}
	return o, nil
}

// activeSequence returns the entries to replay, oldest first.
func activeSequence(entries map[int64]*vhdxLogEntry, logLen int64) []*vhdxLogEntry {
	heads := make([]*vhdxLogEntry, 0, len(entries))
	for _, e := range entries {
		heads = append(heads, e)
	}
	sort.Slice(heads, func(i, j int) bool { return heads[i].seq > heads[j].seq })
	// The newest entry that closes a sequence back to its tail wins. A
	// sequence cannot be longer than the log has entries, which bounds the
	// walk.
	for _, head := range heads {
		var seq []*vhdxLogEntry
		for e := entries[head.tail]; e != nil && len(seq) <= len(entries); {
			seq = append(seq, e)
			if e == head {
				return seq
			}
			next := entries[(e.at+e.length)%logLen]
			if next == nil || next.seq != e.seq+1 {
				break
			}
			e = next
		}
	}
	return nil
}

// parseVHDXLogEntry returns the valid entry at offset at of the log, or nil.
// ring holds the log twice over, so that an entry wrapping around the end
// of the log is one slice. The cheap structural checks come before the
// checksum: a sector that passes them cannot start inside another entry
// that passes them, so the checksums add up to one pass over the log.
func parseVHDXLogEntry(ring []byte, at int64, guid [16]byte) *vhdxLogEntry {
	le := binary.LittleEndian
	logLen := int64(len(ring) / 2)
	hdr := ring[at:]
	length, count := int64(le.Uint32(hdr[8:])), int64(le.Uint32(hdr[24:]))
	descArea := (64 + 32*count + vhdxLogSector - 1) / vhdxLogSector * vhdxLogSector
	if string(hdr[:4]) != "loge" || length < vhdxLogSector || length%vhdxLogSector != 0 || length > logLen ||
		[16]byte(hdr[32:48]) != guid || descArea > length {
		return nil
	}
	whole := ring[at : at+length]
	e := &vhdxLogEntry{
		at: at, length: length, tail: int64(le.Uint32(hdr[12:])), seq: le.Uint64(hdr[16:]),
		flushed: int64(le.Uint64(hdr[48:]) & (1<<62 - 1)), last: int64(le.Uint64(hdr[56:]) & (1<<62 - 1)),
	}
	if e.tail%vhdxLogSector != 0 || e.tail >= logLen {
		return nil
	}
	dataAt := descArea
	for i := range count {
		d := whole[64+32*i:]
		fileOff, dseq := int64(le.Uint64(d[16:])&(1<<62-1)), le.Uint64(d[24:])
		if dseq != e.seq || fileOff%vhdxLogSector != 0 {
			return nil
		}
		switch string(d[:4]) {
		case "zero":
			n := int64(le.Uint64(d[8:]) & (1<<62 - 1))
			if n%vhdxLogSector != 0 || fileOff > 1<<62-n {
				return nil
			}
			e.ordering = append(e.ordering, ^len(e.zeros))
			e.zeros = append(e.zeros, Extent{Offset: fileOff, Length: n})
		case "desc":
			if dataAt+vhdxLogSector > length {
				return nil
			}
			s := whole[dataAt : dataAt+vhdxLogSector]
			if string(s[:4]) != "data" || uint64(le.Uint32(s[4:]))<<32|uint64(le.Uint32(s[4092:])) != e.seq {
				return nil
			}
			w := vhdxLogWrite{at: fileOff}
			copy(w.sector[:8], d[8:16]) // LeadingBytes
			copy(w.sector[8:4092], s[8:4092])
			copy(w.sector[4092:], d[4:8]) // TrailingBytes
			e.ordering = append(e.ordering, len(e.writes))
			e.writes = append(e.writes, w)
			dataAt += vhdxLogSector
		default:
			return nil
		}
	}
	if crc32cWithout(whole) != le.Uint32(whole[4:]) {
		return nil
	}
	return e
}

// logOverlay is a vhdx file as it reads after its log is replayed: the
// file, grown to the log's LastFileOffset, with the log's zeroed ranges and
// written sectors laid over it. Sectors and zero ranges never overlap.
type logOverlay struct {
	r        io.ReaderAt
	fileSize int64
	size     int64
	sectors  map[int64]*[vhdxLogSector]byte // by file offset
	zeros    []Extent                       // sorted
}

func (o *logOverlay) write(at int64, s *[vhdxLogSector]byte) {
	o.zeros = subtractExtent(o.zeros, Extent{Offset: at, Length: vhdxLogSector})
	o.sectors[at] = s
	o.size = max(o.size, at+vhdxLogSector)
}

func (o *logOverlay) zero(x Extent) {
	if x.Length/vhdxLogSector < int64(len(o.sectors)) {
		for at := x.Offset; at < x.Offset+x.Length; at += vhdxLogSector {
			delete(o.sectors, at)
		}
	} else {
		for at := range o.sectors {
			if at >= x.Offset && at < x.Offset+x.Length {
				delete(o.sectors, at)
			}
		}
	}
	o.zeros = unionExtents(subtractExtent(o.zeros, x), []Extent{x})
}

func (o *logOverlay) ReadAt(p []byte, off int64) (int, error) {
	p, eof, err := clipRead(VHDX, p, off, o.size)
	if err != nil {
		return 0, err
	}
	end := off + int64(len(p))
	n := 0
	if off < o.fileSize {
		var err error
		n, err = o.r.ReadAt(p[:min(int64(len(p)), o.fileSize-off)], off)
		if err != nil && err != io.EOF {
			return n, err
		}
	}
	clear(p[n:]) // the file grown by the log reads as zeros
	for _, z := range intersectExtents(o.zeros, []Extent{{Offset: off, Length: int64(len(p))}}) {
		clear(p[z.Offset-off : z.Offset-off+z.Length])
	}
	for at := off &^ (vhdxLogSector - 1); at < end; at += vhdxLogSector {
		if s := o.sectors[at]; s != nil {
			lo, hi := max(at, off), min(at+vhdxLogSector, end)
			copy(p[lo-off:hi-off], s[lo-at:hi-at])
		}
	}
	return len(p), eof
}
