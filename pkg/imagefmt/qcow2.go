package imagefmt

import (
	"bytes"
	"container/list"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"

	"github.com/colinux-ng/colinux/internal/inflate"
)

// The qcow2 layout follows QEMU's docs/interop/qcow2.txt.

const qcow2Magic = "QFI\xfb"

const (
	qcow2V2HeaderLen = 72
	qcow2V3HeaderLen = 104

	// Incompatible feature bits.
	qcow2Dirty        = 1 << 0 // refcounts may be stale; the data is fine
	qcow2Corrupt      = 1 << 1
	qcow2ExternalData = 1 << 2
	qcow2CompressType = 1 << 3 // the compression_type field is valid
	qcow2ExtendedL2   = 1 << 4

	// Header extension types.
	qcow2ExtEnd           = 0
	qcow2ExtBackingFormat = 0xe2792aca

	// Table entry fields.
	qcow2OffsetMask = 0x00fffffffffffe00 // bits 9-55: host offset
	qcow2Compressed = 1 << 62
	qcow2ZeroFlag   = 1 << 0

	// QEMU's limits: a backing file name fits in 1023 bytes and the L1
	// table in 32 MiB. The L1 table is kept in memory.
	qcow2MaxBackingName = 1023
	qcow2MaxL1Bytes     = 32 << 20

	// l2CacheBytes bounds the memory held by cached L2 tables.
	l2CacheBytes = 32 << 20
)

// qcow2Header holds the header fields the reader uses.
type qcow2Header struct {
	version         uint32
	backingOffset   uint64
	backingSize     uint32
	clusterBits     uint32
	size            uint64
	cryptMethod     uint32
	l1Size          uint32
	l1Offset        uint64
	incompatible    uint64
	headerLength    uint32
	compressionType uint8
}

func parseQCOW2Header(b []byte) (qcow2Header, error) {
	if len(b) < qcow2V2HeaderLen {
		return qcow2Header{}, errorf(ErrFormat, "qcow2: file of %d bytes is shorter than the header", len(b))
	}
	if string(b[:4]) != qcow2Magic {
		return qcow2Header{}, errorf(ErrFormat, "qcow2: bad magic %q", b[:4])
	}
	be := binary.BigEndian
	h := qcow2Header{
		version:       be.Uint32(b[4:]),
		backingOffset: be.Uint64(b[8:]),
		backingSize:   be.Uint32(b[16:]),
		clusterBits:   be.Uint32(b[20:]),
		size:          be.Uint64(b[24:]),
		cryptMethod:   be.Uint32(b[32:]),
		l1Size:        be.Uint32(b[36:]),
		l1Offset:      be.Uint64(b[40:]),
		headerLength:  qcow2V2HeaderLen,
	}
	switch h.version {
	case 2:
		return h, nil
	case 3:
	default:
		return h, errorf(ErrUnsupported, "qcow2: version %d", h.version)
	}
	if len(b) < qcow2V3HeaderLen {
		return h, errorf(ErrFormat, "qcow2: file of %d bytes is shorter than the version 3 header", len(b))
	}
	h.incompatible = be.Uint64(b[72:])
	h.headerLength = be.Uint32(b[100:])
	if h.headerLength < qcow2V3HeaderLen || h.headerLength%8 != 0 {
		return h, errorf(ErrFormat, "qcow2: header length %d", h.headerLength)
	}
	if uint64(h.headerLength) > uint64(len(b)) {
		return h, errorf(ErrFormat, "qcow2: header length %d is past the end of the file", h.headerLength)
	}
	if h.headerLength > 104 {
		h.compressionType = b[104]
	}
	return h, nil
}

// backingOpener opens the backing file an image names; format is the
// backing format the image records, or empty to detect it.
type backingOpener func(name string, format Format) (Disk, error)

// qcow2Disk reads a qcow2 image. All its state after opening is either
// immutable or guarded, so ReadAt and Extents may run concurrently.
type qcow2Disk struct {
	r        io.ReaderAt
	fileSize int64
	closer   io.Closer // nil when the caller owns r

	size        int64
	clusterBits uint
	clusterSize int64
	l2Bits      uint // log2 of the entries in an L2 table
	l1          []uint64
	backing     Disk // nil if none

	version uint32
	l2      l2Cache
	zstd    *zstd.Decoder // nil unless compression is zstd
	// bufs holds scratch buffers of 3 clusters: one decompressed cluster
	// and up to two of compressed input.
	bufs   sync.Pool
	flates sync.Pool // *inflater
}

func probeQCOW2(head []byte, _ io.ReaderAt, _ int64) bool {
	return bytes.HasPrefix(head, []byte(qcow2Magic))
}

func openQCOW2(img *image) (Disk, error) {
	return newQCOW2(img.r, img.size, img.closer(), img.openBacking())
}

// NewQCOW2 reads the qcow2 image in r, which is size bytes long. Images
// with a backing file fail with ErrBacking, as there is no directory to
// find it in; Open can follow backing files. The caller closes r after
// the Disk is no longer used.
func NewQCOW2(r io.ReaderAt, size int64) (Disk, error) {
	return newQCOW2(r, size, nil, nil)
}

// newQCOW2 is NewQCOW2 with a closer that Close calls and a way to open
// backing files, either of which may be nil.
func newQCOW2(r io.ReaderAt, fileSize int64, closer io.Closer, backing backingOpener) (*qcow2Disk, error) {
	if fileSize < 0 {
		return nil, fmt.Errorf("qcow2: negative file size %d", fileSize)
	}
	var hb [4096]byte
	n, err := r.ReadAt(hb[:min(fileSize, int64(len(hb)))], 0)
	if err != nil && err != io.EOF {
		return nil, err
	}
	h, err := parseQCOW2Header(hb[:n])
	if err != nil {
		return nil, err
	}
	if h.clusterBits < 9 || h.clusterBits > 21 {
		return nil, errorf(ErrFormat, "qcow2: cluster_bits %d outside 9..21", h.clusterBits)
	}
	if h.cryptMethod != 0 {
		return nil, errorf(ErrUnsupported, "qcow2: encrypted image (method %d)", h.cryptMethod)
	}
	if err := checkIncompatible(h); err != nil {
		return nil, err
	}
	d := &qcow2Disk{
		r:           r,
		fileSize:    fileSize,
		clusterBits: uint(h.clusterBits),
		clusterSize: 1 << h.clusterBits,
		l2Bits:      uint(h.clusterBits) - 3,
		version:     h.version,
	}
	if h.size > math.MaxInt64 {
		return nil, errorf(ErrFormat, "qcow2: virtual size %#x overflows", h.size)
	}
	d.size = int64(h.size)
	if err := d.readL1(h); err != nil {
		return nil, err
	}
	name, format, err := d.backingFile(h, hb[:n])
	if err != nil {
		return nil, err
	}
	if name != "" {
		if backing == nil {
			return nil, errorf(ErrBacking, "qcow2: not following backing file %q (--allow-backing follows it; trust the image first)", name)
		}
		if d.backing, err = backing(name, format); err != nil {
			return nil, fmt.Errorf("qcow2: backing file %q: %w", name, err)
		}
	}
	d.l2.init(max(4, l2CacheBytes>>d.clusterBits))
	if h.compressionType == 1 {
		// Output may not outgrow the cluster buffer it is decoded into.
		// DecodeAll keeps its history in that buffer too, so a frame's
		// window size costs no memory and needs no limit of its own.
		d.zstd, err = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecodeAllCapLimit(true))
		if err != nil {
			d.Close()
			return nil, err
		}
	}
	d.bufs.New = func() any {
		b := make([]byte, 3*d.clusterSize)
		return &b
	}
	d.closer = closer
	return d, nil
}

// checkIncompatible refuses incompatible features the reader cannot honour.
// Compatible and autoclear features (lazy refcounts, bitmaps) change
// nothing for a reader, so they are not even parsed.
func checkIncompatible(h qcow2Header) error {
	f := h.incompatible
	switch {
	case f&qcow2Corrupt != 0:
		return errorf(ErrFormat, "qcow2: image is marked corrupt; repair it with qemu-img check -r all")
	case f&qcow2ExternalData != 0:
		return errorf(ErrUnsupported, "qcow2: external data file (incompatible feature bit 2)")
	case f&qcow2ExtendedL2 != 0:
		return errorf(ErrUnsupported, "qcow2: extended L2 entries / subclusters (incompatible feature bit 4)")
	}
	if unknown := f &^ (qcow2Dirty | qcow2CompressType); unknown != 0 {
		return errorf(ErrUnsupported, "qcow2: unknown incompatible feature bit %d", bits.TrailingZeros64(unknown))
	}
	switch {
	case h.compressionType > 1:
		return errorf(ErrUnsupported, "qcow2: compression type %d", h.compressionType)
	case h.compressionType != 0 && f&qcow2CompressType == 0:
		return errorf(ErrFormat, "qcow2: compression type %d without incompatible feature bit 3", h.compressionType)
	}
	return nil
}

// readL1 checks the L1 table's place and loads the entries the virtual
// size needs.
func (d *qcow2Disk) readL1(h qcow2Header) error {
	// Each L1 entry covers 2^(2*cluster_bits-3) <= 2^39 bytes, so this
	// cannot overflow for a size below 2^63.
	perL1 := uint64(1) << (d.clusterBits + d.l2Bits)
	need := (h.size + perL1 - 1) / perL1
	if uint64(h.l1Size) < need {
		return errorf(ErrFormat, "qcow2: L1 table of %d entries is too small for virtual size %d", h.l1Size, h.size)
	}
	if need*8 > qcow2MaxL1Bytes {
		return errorf(ErrUnsupported, "qcow2: L1 table of %d entries is larger than %d MiB", need, qcow2MaxL1Bytes>>20)
	}
	if h.l1Size == 0 {
		return nil
	}
	end := h.l1Offset + uint64(h.l1Size)*8 // l1Offset < 2^64-2^35 is checked next
	switch {
	case h.l1Offset%uint64(d.clusterSize) != 0:
		return errorf(ErrFormat, "qcow2: L1 table offset %#x is not cluster aligned", h.l1Offset)
	case h.l1Offset < uint64(d.clusterSize):
		return errorf(ErrFormat, "qcow2: L1 table offset %#x overlaps the header cluster", h.l1Offset)
	case h.l1Offset > uint64(d.fileSize) || end > uint64(d.fileSize):
		return errorf(ErrFormat, "qcow2: L1 table at %#x..%#x is past the end of the file (%d bytes)", h.l1Offset, end, d.fileSize)
	}
	buf := make([]byte, need*8)
	if _, err := d.r.ReadAt(buf, int64(h.l1Offset)); err != nil {
		return readError(QCOW2, err, "L1 table", int64(h.l1Offset))
	}
	d.l1 = make([]uint64, need)
	for i := range d.l1 {
		d.l1[i] = binary.BigEndian.Uint64(buf[i*8:])
	}
	return nil
}

// backingFile returns the backing file name and, when a header extension
// records it, its format. hb holds the start of the file.
func (d *qcow2Disk) backingFile(h qcow2Header, hb []byte) (string, Format, error) {
	if h.backingOffset == 0 {
		return "", "", nil
	}
	end := h.backingOffset + uint64(h.backingSize)
	if h.backingSize > qcow2MaxBackingName || h.backingOffset > uint64(len(hb)) || end > uint64(len(hb)) || end > uint64(d.clusterSize) {
		return "", "", errorf(ErrFormat, "qcow2: backing file name at %#x, %d bytes, is outside the header cluster", h.backingOffset, h.backingSize)
	}
	name := string(hb[h.backingOffset:end])
	if name == "" {
		return "", "", errorf(ErrFormat, "qcow2: empty backing file name")
	}
	// Header extensions run from the end of the header to the backing
	// file name.
	ext := hb[min(uint64(h.headerLength), h.backingOffset):h.backingOffset]
	var format Format
	for len(ext) >= 8 {
		typ := binary.BigEndian.Uint32(ext)
		n := uint64(binary.BigEndian.Uint32(ext[4:]))
		if typ == qcow2ExtEnd {
			break
		}
		if n > uint64(len(ext)-8) {
			return "", "", errorf(ErrFormat, "qcow2: header extension %#x of %d bytes overruns the header", typ, n)
		}
		if typ == qcow2ExtBackingFormat {
			format = Format(ext[8 : 8+n])
		}
		ext = ext[min(8+(n+7)&^7, uint64(len(ext))):]
	}
	switch format {
	case "", Raw, QCOW2:
		return name, format, nil
	}
	return "", "", errorf(ErrUnsupported, "qcow2: backing file %q has format %q", name, format)
}

func (d *qcow2Disk) Format() Format { return QCOW2 }
func (d *qcow2Disk) Size() int64    { return d.size }

func (d *qcow2Disk) Details() Details {
	compression := "zlib"
	if d.zstd != nil {
		compression = "zstd"
	}
	return Details{Subformat: fmt.Sprintf("v%d", d.version), Unit: "cluster", BlockSize: d.clusterSize, Compression: compression}
}

// MapRange maps allocated clusters to the image file and zero or
// unallocated ones (without a backing file) to zeros.
func (d *qcow2Disk) MapRange(off, n int64) (Mapping, error) {
	r, err := d.mapRun(off, min(n, d.size-off))
	if err != nil {
		return Mapping{}, err
	}
	m := Mapping{Length: r.n}
	switch r.kind {
	case zeroed:
		m.Zero = true
	case unallocated:
		m.Zero = d.backing == nil
	case allocated:
		if d.clusterSize <= VerbatimMax {
			m.File, _ = d.r.(*os.File)
			m.Offset = r.host
		}
	}
	return m, nil
}

func (d *qcow2Disk) Close() error {
	var err error
	if d.zstd != nil {
		d.zstd.Close()
	}
	if d.backing != nil {
		err = d.backing.Close()
	}
	if d.closer != nil {
		if cerr := d.closer.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Cluster kinds, from an L2 entry.
const (
	unallocated = iota // reads from the backing file, or as zeros
	zeroed             // reads as zeros
	allocated          // stored as is at host
	compressed         // stored compressed at host, csize bytes at most
)

// cluster is where one cluster's data lives.
type cluster struct {
	kind  int
	host  int64
	csize int64
}

// l2Table returns the L2 table for virtual cluster index vc, or nil when
// none is allocated.
func (d *qcow2Disk) l2Table(vc int64) ([]uint64, error) {
	i := vc >> d.l2Bits
	entry := d.l1[i]
	off := int64(entry & qcow2OffsetMask)
	if off == 0 {
		return nil, nil
	}
	if t := d.l2.get(off); t != nil {
		return t, nil
	}
	if off&(d.clusterSize-1) != 0 || off > d.fileSize-d.clusterSize {
		return nil, errorf(ErrFormat, "qcow2: L1 entry %d points to L2 table at %#x, which is unaligned or past the end of the file (%d bytes)", i, off, d.fileSize)
	}
	buf := make([]byte, d.clusterSize)
	if _, err := d.r.ReadAt(buf, off); err != nil {
		return nil, readError(QCOW2, err, "L2 table", off)
	}
	t := make([]uint64, len(buf)/8)
	for j := range t {
		t[j] = binary.BigEndian.Uint64(buf[j*8:])
	}
	d.l2.put(off, t)
	return t, nil
}

// decode interprets the L2 entry for virtual cluster index vc.
func (d *qcow2Disk) decode(entry uint64, vc int64) (cluster, error) {
	if entry&qcow2Compressed != 0 {
		// The offset takes the low 62-(cluster_bits-8) bits and the
		// count of extra 512-byte sectors the rest.
		shift := 62 - (d.clusterBits - 8)
		host := int64(entry & (1<<shift - 1))
		sectors := int64(entry>>shift&(1<<(d.clusterBits-8)-1)) + 1
		if host >= d.fileSize {
			return cluster{}, d.pastEOF(vc, host)
		}
		// The last compressed cluster may end before its last sector.
		csize := min(sectors*512-host&511, d.fileSize-host)
		return cluster{kind: compressed, host: host, csize: csize}, nil
	}
	if entry&qcow2ZeroFlag != 0 {
		return cluster{kind: zeroed}, nil
	}
	host := int64(entry & qcow2OffsetMask)
	switch {
	case host == 0:
		return cluster{kind: unallocated}, nil
	case host&(d.clusterSize-1) != 0:
		return cluster{}, errorf(ErrFormat, "qcow2: L2 entry for virtual offset %#x points to unaligned host offset %#x", vc<<d.clusterBits, host)
	case host > d.fileSize-d.clusterSize:
		return cluster{}, d.pastEOF(vc, host)
	}
	return cluster{kind: allocated, host: host}, nil
}

func (d *qcow2Disk) pastEOF(vc, host int64) error {
	return errorf(ErrFormat, "qcow2: L2 entry for virtual offset %#x points to host offset %#x past the end of the file (%d bytes)", vc<<d.clusterBits, host, d.fileSize)
}

// run is a stretch of the virtual disk starting at a cluster boundary or
// at a read's offset, stored alike: unallocated, zeroed, allocated at
// contiguous host offsets, or one compressed cluster.
type run struct {
	cluster
	n int64
}

// mapRun maps the virtual range [off, off+limit) from its start, stopping
// where the storage changes.
func (d *qcow2Disk) mapRun(off, limit int64) (run, error) {
	vc := off >> d.clusterBits
	t, err := d.l2Table(vc)
	if err != nil {
		return run{}, err
	}
	within := off & (d.clusterSize - 1)
	mask := int64(1)<<d.l2Bits - 1
	if t == nil {
		// The whole L2 range is unallocated.
		n := (mask+1-vc&mask)<<d.clusterBits - within
		return run{cluster: cluster{kind: unallocated}, n: min(n, limit)}, nil
	}
	c, err := d.decode(t[vc&mask], vc)
	if err != nil {
		return run{}, err
	}
	r := run{cluster: c, n: d.clusterSize - within}
	if c.kind == allocated {
		r.host += within
	}
	for r.kind != compressed && r.n < limit && (vc+1)&mask != 0 {
		vc++
		next, err := d.decode(t[vc&mask], vc)
		if err != nil {
			return run{}, err
		}
		if next.kind != r.kind || (r.kind == allocated && next.host != r.host+r.n) {
			break
		}
		r.n += d.clusterSize
	}
	r.n = min(r.n, limit)
	return r, nil
}

// ReadAt reads the virtual disk. Contiguous clusters are read with one
// host read; compressed clusters are decompressed one at a time.
func (d *qcow2Disk) ReadAt(p []byte, off int64) (int, error) {
	p, eof, err := clipRead(QCOW2, p, off, d.size)
	if err != nil {
		return 0, err
	}
	for done := 0; done < len(p); {
		r, err := d.mapRun(off+int64(done), int64(len(p)-done))
		if err != nil {
			return done, err
		}
		b := p[done : done+int(r.n)]
		switch r.kind {
		case unallocated:
			err = d.readBacking(b, off+int64(done))
		case zeroed:
			clear(b)
		case allocated:
			if _, err = d.r.ReadAt(b, r.host); err != nil {
				err = readError(QCOW2, err, "data cluster", r.host)
			}
		case compressed:
			err = d.readCompressed(b, off+int64(done), r.cluster)
		}
		if err != nil {
			return done, err
		}
		done += len(b)
	}
	return len(p), eof
}

// readBacking fills b from the backing file, which may be shorter than
// this image, or with zeros if there is none.
func (d *qcow2Disk) readBacking(b []byte, off int64) error {
	if d.backing == nil || off >= d.backing.Size() {
		clear(b)
		return nil
	}
	n, err := d.backing.ReadAt(b, off)
	if err == io.EOF {
		err = nil
	}
	clear(b[n:])
	return err
}

// readCompressed decompresses the cluster holding virtual offset off and
// copies the part from off into b.
func (d *qcow2Disk) readCompressed(b []byte, off int64, c cluster) error {
	bp := d.bufs.Get().(*[]byte)
	defer d.bufs.Put(bp)
	out, in := (*bp)[:d.clusterSize], (*bp)[d.clusterSize:][:c.csize]
	// A read of the whole cluster decompresses straight into the caller's
	// buffer, saving a copy.
	whole := off&(d.clusterSize-1) == 0 && int64(len(b)) == d.clusterSize
	if whole {
		out = b
	}
	if _, err := d.r.ReadAt(in, c.host); err != nil {
		return readError(QCOW2, err, "compressed cluster", c.host)
	}
	if err := d.decompress(out, in); err != nil {
		return errorf(ErrFormat, "qcow2: compressed cluster for virtual offset %#x at host offset %#x: %v", off&^(d.clusterSize-1), c.host, err)
	}
	if !whole {
		copy(b, out[off&(d.clusterSize-1):])
	}
	return nil
}

// decompress fills out, one cluster, from in, which may run on past the
// compressed stream into whatever follows it in the file. A deflate
// stream goes through libdeflate where it is built in; what that refuses,
// the Go decoder reads (as QEMU, taking the first cluster of a longer
// stream) or explains.
func (d *qcow2Disk) decompress(out, in []byte) error {
	if d.zstd == nil {
		if inflate.Raw(out, in) {
			return nil
		}
		f, _ := d.flates.Get().(*inflater)
		if f == nil {
			f = new(inflater)
			f.r = flate.NewReader(&f.src)
		}
		defer d.flates.Put(f)
		f.src.Reset(in)
		if err := f.r.(flate.Resetter).Reset(&f.src, nil); err != nil {
			return err
		}
		_, err := io.ReadFull(f.r, out)
		return err
	}
	n, err := zstdFrameLen(in)
	if err != nil {
		return err
	}
	got, err := d.zstd.DecodeAll(in[:n], out[:0])
	if err != nil {
		return err
	}
	if len(got) != len(out) {
		return fmt.Errorf("decompressed to %d bytes, not a cluster", len(got))
	}
	return nil
}

// inflater is a reusable raw deflate decompressor.
type inflater struct {
	src bytes.Reader
	r   io.ReadCloser
}

// zstdFrameLen returns the length of the zstd frame at the start of b.
// QEMU packs compressed clusters back to back, so the frame has to be cut
// out before DecodeAll, which would go on to decode the next cluster.
func zstdFrameLen(b []byte) (int, error) {
	var h zstd.Header
	rest, err := h.DecodeAndStrip(b)
	if err != nil {
		return 0, err
	}
	if h.Skippable {
		return 0, fmt.Errorf("skippable zstd frame")
	}
	for {
		if len(rest) < 3 {
			return 0, io.ErrUnexpectedEOF
		}
		bh := uint32(rest[0]) | uint32(rest[1])<<8 | uint32(rest[2])<<16
		last, typ, size := bh&1 != 0, bh>>1&3, int(bh>>3)
		switch typ {
		case 1: // RLE: one byte, repeated
			size = 1
		case 3:
			return 0, fmt.Errorf("reserved zstd block type")
		}
		if size > len(rest)-3 {
			return 0, io.ErrUnexpectedEOF
		}
		rest = rest[3+size:]
		if last {
			break
		}
	}
	if h.HasCheckSum {
		if len(rest) < 4 {
			return 0, io.ErrUnexpectedEOF
		}
		rest = rest[4:]
	}
	return len(b) - len(rest), nil
}

// Extents lists the allocated clusters and, through unallocated ones, the
// backing file's extents.
func (d *qcow2Disk) Extents() ([]Extent, error) {
	var own, holes []Extent
	// An L2 table shared by two L1 entries never comes from QEMU, and
	// would let a small file describe a vast number of extents.
	seen := make(map[uint64]bool)
	perL1 := int64(1) << (d.clusterBits + d.l2Bits)
	for i, e := range d.l1 {
		base := int64(i) * perL1
		if off := e & qcow2OffsetMask; off != 0 {
			if seen[off] {
				return nil, errorf(ErrFormat, "qcow2: L2 table at %#x is used twice by the L1 table", off)
			}
			seen[off] = true
		}
		for v := base; v < min(base+perL1, d.size); {
			r, err := d.mapRun(v, base+perL1-v)
			if err != nil {
				return nil, err
			}
			x := Extent{Offset: v, Length: min(r.n, d.size-v)}
			switch r.kind {
			case allocated, compressed:
				own = appendExtent(own, x)
			case unallocated:
				holes = appendExtent(holes, x)
			}
			v += r.n
		}
	}
	if d.backing == nil {
		return own, nil
	}
	back, err := d.backing.Extents()
	if err != nil {
		return nil, err
	}
	return unionExtents(own, intersectExtents(back, holes)), nil
}

// l2Cache is a small LRU cache of L2 tables keyed by host offset.
type l2Cache struct {
	mu    sync.Mutex
	max   int
	lru   list.List // of *l2Entry, most recent first
	index map[int64]*list.Element
}

type l2Entry struct {
	off   int64
	table []uint64
}

func (c *l2Cache) init(tables int) {
	c.max = tables
	c.index = make(map[int64]*list.Element)
}

func (c *l2Cache) get(off int64) []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.index[off]; e != nil {
		c.lru.MoveToFront(e)
		return e.Value.(*l2Entry).table
	}
	return nil
}

func (c *l2Cache) put(off int64, t []uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.index[off] != nil {
		return // another reader loaded it meanwhile
	}
	c.index[off] = c.lru.PushFront(&l2Entry{off: off, table: t})
	if c.lru.Len() > c.max {
		old := c.lru.Remove(c.lru.Back()).(*l2Entry)
		delete(c.index, old.off)
	}
}
