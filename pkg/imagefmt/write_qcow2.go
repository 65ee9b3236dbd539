package imagefmt

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
)

// The qcow2 writer lays out, in 64 KiB clusters: the header, the L1 table,
// an L2 table for every 512 MiB of the disk that holds data, then the data
// clusters in disk order (compressed ones packed back to back, as QEMU
// packs them), and last the refcount table and blocks.

const (
	qcow2OutBits    = 16
	qcow2OutCluster = 1 << qcow2OutBits
	qcow2Copied     = 1 << 63 // refcount is exactly one
	// QEMU inflates zlib clusters with a 4 KiB window (inflateInit2(-12)).
	qcow2DeflateWindow = 4096
)

func writeQCOW2(w *writer, compress string) error {
	cs := int64(qcow2OutCluster)
	size := w.src.Size()
	perL2 := cs / 8
	perL1 := cs * perL2
	l1Size := (size + perL1 - 1) / perL1
	if l1Size*8 > qcow2MaxL1Bytes {
		return fmt.Errorf("qcow2: a disk of %d bytes needs an L1 table larger than %d MiB", size, qcow2MaxL1Bytes>>20)
	}
	ext, err := w.src.Extents()
	if err != nil {
		return err
	}
	q := &qcow2Out{w: w, cs: cs, perL2: perL2, l1: make([]uint64, l1Size)}
	q.next = cs + (l1Size*8+cs-1)/cs*cs // after the header and the L1 table
	q.l2At = map[int64]int64{}
	for _, i := range blocksOf(ext, perL1) {
		q.l2At[i] = q.next
		q.l1[i] = uint64(q.next) | qcow2Copied
		q.next += cs
	}
	q.count(0, q.next) // header, L1, L2 tables
	var prepare func(*block) error
	switch compress {
	case "":
	case "zlib":
		prepare = deflateCluster
	case "zstd":
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false))
		if err != nil {
			return err
		}
		defer enc.Close()
		prepare = func(b *block) error {
			b.out = enc.EncodeAll(b.data, b.bufs[1][:0])
			b.bufs[1] = b.out[:0]
			return nil
		}
	default:
		return fmt.Errorf("qcow2: unknown compression %q (zlib or zstd)", compress)
	}
	if err := w.eachBlock(ext, cs, prepare, q.store); err != nil {
		return err
	}
	if err := q.flushL2(); err != nil {
		return err
	}
	return q.finish(size, compress)
}

// qcow2Out is a qcow2 image being written.
type qcow2Out struct {
	w     *writer
	cs    int64
	perL2 int64
	l1    []uint64
	l2At  map[int64]int64 // L1 index → host offset of its L2 table
	l2    []uint64        // the L2 table being filled
	l2Of  int64           // its L1 index, -1 when none
	next  int64           // where the next data goes
	refs  []uint16        // refcount of each host cluster
}

// count adds one reference to each host cluster that [off, end) touches.
func (q *qcow2Out) count(off, end int64) {
	last := (end - 1) / q.cs
	for int64(len(q.refs)) <= last {
		q.refs = append(q.refs, 0)
	}
	for c := off / q.cs; c <= last; c++ {
		q.refs[c]++
	}
}

// store appends one cluster, compressed if that made it smaller, and
// records it in its L2 table.
func (q *qcow2Out) store(b *block) error {
	l1i := b.index / q.perL2
	if q.l2 == nil || q.l2Of != l1i {
		if err := q.flushL2(); err != nil {
			return err
		}
		q.l2, q.l2Of = make([]uint64, q.perL2), l1i
	}
	var entry uint64
	if b.out != nil && int64(len(b.out)) < q.cs-512 {
		// QEMU's rule: the entry holds the byte offset and the number of
		// further 512-byte sectors the data reaches into; refcounts go by
		// those sectors.
		at := q.next
		sectors := (at+int64(len(b.out))-1)/512 - at/512
		entry = 1<<62 | uint64(sectors)<<(62-(qcow2OutBits-8)) | uint64(at)
		if err := q.w.writeAt(b.out, at); err != nil {
			return err
		}
		q.count(at&^511, (at/512+sectors+1)*512)
		q.next = at + int64(len(b.out))
	} else {
		at := (q.next + q.cs - 1) &^ (q.cs - 1)
		if err := q.w.writeAt(b.data, at); err != nil {
			return err
		}
		q.count(at, at+q.cs)
		entry = uint64(at) | qcow2Copied
		q.next = at + q.cs
	}
	q.l2[b.index%q.perL2] = entry
	return nil
}

// flushL2 writes the L2 table being filled.
func (q *qcow2Out) flushL2() error {
	if q.l2 == nil {
		return nil
	}
	buf := make([]byte, q.cs)
	for i, e := range q.l2 {
		binary.BigEndian.PutUint64(buf[8*i:], e)
	}
	q.l2 = nil
	return q.w.writeAt(buf, q.l2At[q.l2Of])
}

// finish writes the L1 table, the refcounts (16-bit, after the data) and
// the header.
func (q *qcow2Out) finish(size int64, compress string) error {
	cs := q.cs
	l1 := make([]byte, len(q.l1)*8)
	for i, e := range q.l1 {
		binary.BigEndian.PutUint64(l1[8*i:], e)
	}
	if err := q.w.writeAt(l1, cs); err != nil {
		return err
	}
	// The refcount table and blocks must count themselves: grow them
	// until they cover every cluster, their own included.
	used := (q.next + cs - 1) / cs
	perBlock := cs / 2
	var tableClusters, blocks int64
	for {
		b := (used + tableClusters + blocks + perBlock - 1) / perBlock
		t := (b*8 + cs - 1) / cs
		if b == blocks && t == tableClusters {
			break
		}
		blocks, tableClusters = b, t
	}
	tableAt := used * cs
	q.count(tableAt, tableAt+(tableClusters+blocks)*cs)
	table := make([]byte, tableClusters*cs)
	refs := make([]byte, blocks*cs)
	for i := range blocks {
		binary.BigEndian.PutUint64(table[8*i:], uint64(tableAt+(tableClusters+i)*cs))
	}
	for c, n := range q.refs {
		binary.BigEndian.PutUint16(refs[2*c:], n)
	}
	if err := q.w.writeAt(table, tableAt); err != nil {
		return err
	}
	if err := q.w.writeAt(refs, tableAt+tableClusters*cs); err != nil {
		return err
	}

	h := make([]byte, 112+8) // version 3 header with the compression type, then the end of extensions
	be := binary.BigEndian
	copy(h, qcow2Magic)
	be.PutUint32(h[4:], 3)
	be.PutUint32(h[20:], qcow2OutBits)
	be.PutUint64(h[24:], uint64(size))
	be.PutUint32(h[36:], uint32(len(q.l1)))
	be.PutUint64(h[40:], uint64(cs))
	be.PutUint64(h[48:], uint64(tableAt))
	be.PutUint32(h[56:], uint32(tableClusters))
	if compress == "zstd" {
		be.PutUint64(h[72:], qcow2CompressType)
		h[104] = 1
	}
	be.PutUint32(h[96:], 4) // refcount_order: 16-bit refcounts
	be.PutUint32(h[100:], 112)
	return q.w.writeAt(h, 0)
}

// deflaters are raw deflate compressors with QEMU's 4 KiB window: QEMU's
// zlib clusters are raw deflate, without a zlib header.
var deflaters = sync.Pool{New: func() any {
	w, err := flate.NewWriterWindow(nil, qcow2DeflateWindow)
	if err != nil {
		panic(err) // the window size is a valid constant
	}
	return w
}}

func deflateCluster(b *block) error { return compressWith(&deflaters, b) }
