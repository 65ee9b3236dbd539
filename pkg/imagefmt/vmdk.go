package imagefmt

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/zlib"

	"github.com/colinux-ng/colinux/internal/inflate"
)

// The vmdk layout follows VMware's Virtual Disk Format 5.0 and QEMU's
// block/vmdk.c: a text descriptor listing extents (flat files, sparse
// files with grain directories and tables, zero ranges), embedded in a
// monolithicSparse or streamOptimized file or standing alone.

const (
	vmdkMagic      = "KDMV"
	vmdkDescriptor = "# Disk DescriptorFile"

	vmdkFlagNewlineTest = 1 << 0
	vmdkFlagZeroGrain   = 1 << 2
	vmdkFlagCompressed  = 1 << 16
	vmdkFlagMarkers     = 1 << 17

	vmdkGDAtEnd     = 0xffffffffffffffff // streamOptimized: see the footer
	vmdkZeroedGrain = 1                  // grain table entry of a zeroed grain

	vmdkMarkerEOS    = 0
	vmdkMarkerFooter = 3

	// Limits: QEMU reads grain tables of at most 512 entries and grains of
	// at most 1 GiB; grains here are decompressed whole, so they are
	// bounded tighter. Descriptors and directories are read into memory.
	vmdkMaxGTEs       = 512
	vmdkMaxGrain      = 16 << 20
	vmdkMaxDescriptor = 1 << 20
	vmdkMaxGD         = 32 << 20
	vmdkMaxExtents    = 4096
)

func probeVMDK(head []byte, _ io.ReaderAt, _ int64) bool {
	return bytes.HasPrefix(head, []byte(vmdkMagic)) || bytes.HasPrefix(head, []byte(vmdkDescriptor))
}

func openVMDK(img *image) (Disk, error) {
	var dir fs.FS
	if img.path != "" {
		root, err := os.OpenRoot(filepath.Dir(img.path))
		if err != nil {
			return nil, err
		}
		defer root.Close() // files opened through it stay open
		dir = root.FS()
	}
	return newVMDK(img.r, img.size, dir, img.closer())
}

// NewVMDK reads the vmdk image in r, which is size bytes long. A
// descriptor that lists extent files finds them in dir, which confines
// them (os.Root.FS does, also through symbolic links); with a nil dir such
// descriptors are refused. The caller closes r after the Disk is no longer
// used.
func NewVMDK(r io.ReaderAt, size int64, dir fs.FS) (Disk, error) {
	if size < 0 {
		return nil, fmt.Errorf("vmdk: negative file size %d", size)
	}
	return newVMDK(r, size, dir, nil)
}

func newVMDK(r io.ReaderAt, size int64, dir fs.FS, closer io.Closer) (Disk, error) {
	var magic [4]byte
	if _, err := r.ReadAt(magic[:], 0); err != nil {
		return nil, readError(VMDK, err, "magic", 0)
	}
	if string(magic[:]) == vmdkMagic {
		// A sparse file with the descriptor inside: one extent, itself.
		d, desc, err := openSparseExtent(r, size, true)
		if err != nil {
			return nil, err
		}
		if desc.parent {
			return nil, errorf(ErrUnsupported, "vmdk: differencing disk (parentCID %s); merge it into its parent first", desc.parentCID)
		}
		d.closer = closer
		d.details.Subformat = desc.createType
		return d, nil
	}
	if size > vmdkMaxDescriptor {
		return nil, errorf(ErrUnsupported, "vmdk: descriptor file of %d bytes is larger than %d KiB", size, vmdkMaxDescriptor>>10)
	}
	text := make([]byte, size)
	if _, err := r.ReadAt(text, 0); err != nil && err != io.EOF {
		return nil, readError(VMDK, err, "descriptor", 0)
	}
	desc, err := parseVMDKDescriptor(text)
	if err != nil {
		return nil, err
	}
	if dir == nil {
		return nil, errorf(ErrUnsupported, "vmdk: descriptor names extent files but no directory was given to find them in")
	}
	d, err := openVMDKExtents(desc, dir)
	if err != nil {
		return nil, err
	}
	if closer != nil {
		d.closers = append(d.closers, closer)
	}
	return d, nil
}

// vmdkDesc is what the reader takes from a descriptor.
type vmdkDesc struct {
	createType string
	parentCID  string
	parent     bool
	extents    []vmdkExtentLine
}

type vmdkExtentLine struct {
	line    int
	access  string
	sectors int64
	kind    string // FLAT, SPARSE, ZERO, VMFS, …
	file    string
	offset  int64 // FLAT: sectors into the file
}

// parseVMDKDescriptor reads key=value lines and extent lines; errors name
// the line.
func parseVMDKDescriptor(text []byte) (vmdkDesc, error) {
	var d vmdkDesc
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(nil, vmdkMaxDescriptor)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(strings.TrimRight(sc.Text(), "\x00"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && !strings.ContainsAny(k, "\"") {
			k, v = strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), "\"")
			switch k {
			case "createType":
				d.createType = v
			case "parentCID":
				d.parentCID = v
				d.parent = !strings.EqualFold(v, "ffffffff")
			}
			continue
		}
		e, err := parseVMDKExtent(line, n)
		if err != nil {
			return d, err
		}
		if len(d.extents) == vmdkMaxExtents {
			return d, errorf(ErrUnsupported, "vmdk: descriptor lists more than %d extents", vmdkMaxExtents)
		}
		d.extents = append(d.extents, e)
	}
	if err := sc.Err(); err != nil {
		return d, errorf(ErrFormat, "vmdk: descriptor: %v", err)
	}
	return d, nil
}

// parseVMDKExtent parses `RW 4192256 SPARSE "disk-s001.vmdk"`, with an
// offset in sectors after a FLAT extent's file name.
func parseVMDKExtent(line string, n int) (vmdkExtentLine, error) {
	bad := func(why string) (vmdkExtentLine, error) {
		return vmdkExtentLine{}, errorf(ErrFormat, "vmdk: descriptor line %d %q: %s", n, line, why)
	}
	e := vmdkExtentLine{line: n}
	head, quoted, hasFile := strings.Cut(line, "\"")
	f := strings.Fields(head)
	if len(f) != 3 {
		return bad("not an extent line (ACCESS SECTORS TYPE \"FILE\")")
	}
	e.access, e.kind = f[0], f[2]
	var err error
	if e.sectors, err = strconv.ParseInt(f[1], 10, 64); err != nil || e.sectors <= 0 || e.sectors > 1<<53 {
		return bad("bad sector count")
	}
	if hasFile {
		name, rest, ok := strings.Cut(quoted, "\"")
		if !ok || name == "" {
			return bad("unterminated file name")
		}
		e.file = name
		if rest = strings.TrimSpace(rest); rest != "" {
			if e.offset, err = strconv.ParseInt(rest, 10, 64); err != nil || e.offset < 0 || e.offset > 1<<53 {
				return bad("bad offset")
			}
		}
	}
	switch e.access {
	case "RW", "RDONLY":
	case "NOACCESS":
		return bad("NOACCESS extents cannot be read")
	default:
		return bad("unknown access " + e.access)
	}
	switch e.kind {
	case "FLAT", "SPARSE":
		if !hasFile {
			return bad("no file name")
		}
	case "ZERO":
	case "VMFS", "VMFSSPARSE", "VMFSRDM", "VMFSRAW", "SESPARSE":
		return vmdkExtentLine{}, errorf(ErrUnsupported, "vmdk: descriptor line %d: %s extents (ESXi datastores) are not read; export the disk from ESXi as streamOptimized or monolithicSparse", n, e.kind)
	default:
		return bad("unknown extent type " + e.kind)
	}
	return e, nil
}

// openVMDKExtents opens a descriptor's extents, found in dir, as one disk.
func openVMDKExtents(desc vmdkDesc, dir fs.FS) (_ *concatDisk, err error) {
	switch {
	case desc.parent:
		return nil, errorf(ErrUnsupported, "vmdk: differencing disk (parentCID %s); merge it into its parent first", desc.parentCID)
	case strings.HasPrefix(desc.createType, "vmfs"), desc.createType == "seSparse":
		return nil, errorf(ErrUnsupported, "vmdk: %s disks (ESXi datastores) are not read; export the disk from ESXi as streamOptimized or monolithicSparse", desc.createType)
	case len(desc.extents) == 0:
		return nil, errorf(ErrFormat, "vmdk: descriptor lists no extents")
	}
	c := &concatDisk{format: VMDK, details: Details{Subformat: desc.createType}}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	for _, e := range desc.extents {
		length := e.sectors * 512
		if c.size > 1<<62-length {
			return nil, errorf(ErrFormat, "vmdk: extents add up to more than 2^62 bytes")
		}
		x := part{off: c.size, size: length}
		if e.kind != "ZERO" {
			f, size, err := openExtentFile(dir, e)
			if err != nil {
				return nil, err
			}
			c.closers = append(c.closers, f)
			c.details.Files = append(c.details.Files, e.file)
			if x.d, err = openExtent(e, f, size); err != nil {
				return nil, fmt.Errorf("vmdk: extent %q: %w", e.file, err)
			}
			if d, ok := x.d.(*tableDisk); ok && c.details.Unit == "" {
				c.details.Unit, c.details.BlockSize, c.details.Compression = d.details.Unit, d.details.BlockSize, d.details.Compression
			}
		}
		c.parts = append(c.parts, x)
		c.size += length
	}
	return c, nil
}

// openExtentFile opens an extent's file in dir, refusing names that leave it.
func openExtentFile(dir fs.FS, e vmdkExtentLine) (fs.File, int64, error) {
	outside := errorf(ErrFormat, "vmdk: descriptor line %d: extent file %q is outside the descriptor's directory", e.line, e.file)
	if !fs.ValidPath(e.file) || strings.Contains(e.file, "\\") {
		return nil, 0, outside
	}
	f, err := dir.Open(e.file)
	if err != nil {
		if strings.Contains(err.Error(), "escapes") {
			return nil, 0, outside
		}
		return nil, 0, fmt.Errorf("vmdk: descriptor line %d: %w", e.line, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("not a regular file")
	}
	if _, ok := f.(io.ReaderAt); err == nil && !ok {
		err = fmt.Errorf("cannot be read at an offset")
	}
	if err != nil {
		f.Close()
		return nil, 0, errorf(ErrFormat, "vmdk: descriptor line %d: extent file %q: %v", e.line, e.file, err)
	}
	return f, fi.Size(), nil
}

// openExtent serves one FLAT or SPARSE extent of the descriptor.
func openExtent(e vmdkExtentLine, f fs.File, size int64) (Disk, error) {
	r := f.(io.ReaderAt)
	length := e.sectors * 512
	if e.kind == "FLAT" {
		host := e.offset * 512
		if host > size-length {
			return nil, errorf(ErrFormat, "vmdk: flat extent of %d bytes at %#x is past the end of the file (%d bytes)", length, host, size)
		}
		return &tableDisk{r: r, fileSize: size, format: VMDK, size: length, blockSize: length,
			locate: func(int64) (cluster, error) { return cluster{kind: allocated, host: host}, nil }}, nil
	}
	d, _, err := openSparseExtent(r, size, false)
	if err != nil {
		return nil, err
	}
	if d.size != length {
		return nil, errorf(ErrFormat, "vmdk: sparse extent holds %d bytes, the descriptor says %d", d.size, length)
	}
	return d, nil
}

// vmdkHeader holds the sparse extent header fields the reader uses.
type vmdkHeader struct {
	version      uint32
	flags        uint32
	capacity     uint64 // sectors
	grain        uint64 // sectors
	descOffset   uint64 // sectors
	descSize     uint64 // sectors
	gtes         uint32
	gdOffset     uint64 // sectors
	newlines     [4]byte
	compressAlgo uint16
}

func parseVMDKHeader(b []byte) vmdkHeader {
	le := binary.LittleEndian
	h := vmdkHeader{
		version:      le.Uint32(b[4:]),
		flags:        le.Uint32(b[8:]),
		capacity:     le.Uint64(b[12:]),
		grain:        le.Uint64(b[20:]),
		descOffset:   le.Uint64(b[28:]),
		descSize:     le.Uint64(b[36:]),
		gtes:         le.Uint32(b[44:]),
		gdOffset:     le.Uint64(b[56:]),
		compressAlgo: le.Uint16(b[77:]),
	}
	copy(h.newlines[:], b[73:77])
	return h
}

// openSparseExtent reads a sparse (KDMV) extent. With embedded set it also
// reads the descriptor inside it.
func openSparseExtent(r io.ReaderAt, size int64, embedded bool) (*tableDisk, vmdkDesc, error) {
	var desc vmdkDesc
	var hb [512]byte
	if _, err := r.ReadAt(hb[:], 0); err != nil {
		return nil, desc, readError(VMDK, err, "sparse extent header", 0)
	}
	if string(hb[:4]) != vmdkMagic {
		return nil, desc, errorf(ErrFormat, "vmdk: sparse extent has magic %q, not %q", hb[:4], vmdkMagic)
	}
	h := parseVMDKHeader(hb[:])
	if h.version < 1 || h.version > 3 {
		return nil, desc, errorf(ErrUnsupported, "vmdk: sparse extent version %d", h.version)
	}
	if h.flags&vmdkFlagNewlineTest != 0 && h.newlines != [4]byte{'\n', ' ', '\r', '\n'} {
		return nil, desc, errorf(ErrFormat, "vmdk: line-end test bytes %q are damaged (the file went through a text-mode transfer?)", h.newlines[:])
	}
	if embedded && h.descOffset != 0 {
		if h.descSize > vmdkMaxDescriptor/512 || h.descOffset > uint64(size)/512 || h.descSize*512 > uint64(size)-h.descOffset*512 {
			return nil, desc, errorf(ErrFormat, "vmdk: embedded descriptor at sector %d, %d sectors, lies outside the file (%d bytes)", h.descOffset, h.descSize, size)
		}
		text := make([]byte, h.descSize*512)
		if _, err := r.ReadAt(text, int64(h.descOffset)*512); err != nil {
			return nil, desc, readError(VMDK, err, "embedded descriptor", int64(h.descOffset)*512)
		}
		var err error
		if desc, err = parseVMDKDescriptor(text); err != nil {
			return nil, desc, err
		}
	}
	if h.gdOffset == vmdkGDAtEnd {
		var err error
		if h, err = vmdkFooter(r, size); err != nil {
			return nil, desc, err
		}
	}
	isCompressed := h.flags&vmdkFlagCompressed != 0
	switch {
	case h.grain == 0 || h.grain*512 > vmdkMaxGrain || bits.OnesCount64(h.grain) != 1:
		return nil, desc, errorf(ErrFormat, "vmdk: grain of %d sectors is not a power of two of at most %d MiB", h.grain, vmdkMaxGrain>>20)
	case h.gtes == 0 || h.gtes > vmdkMaxGTEs:
		return nil, desc, errorf(ErrFormat, "vmdk: %d entries per grain table (1 to %d)", h.gtes, vmdkMaxGTEs)
	case h.capacity > 1<<53:
		return nil, desc, errorf(ErrFormat, "vmdk: capacity of %d sectors overflows", h.capacity)
	case isCompressed && h.compressAlgo != 1:
		return nil, desc, errorf(ErrUnsupported, "vmdk: compression algorithm %d", h.compressAlgo)
	}
	grainBytes := int64(h.grain) * 512
	perGT := int64(h.gtes)
	gdEntries := (int64(h.capacity) + int64(h.grain)*perGT - 1) / (int64(h.grain) * perGT)
	gdAt := int64(h.gdOffset) * 512
	switch {
	case gdEntries*4 > vmdkMaxGD:
		return nil, desc, errorf(ErrUnsupported, "vmdk: grain directory of %d entries is larger than %d MiB", gdEntries, vmdkMaxGD>>20)
	case h.gdOffset > uint64(size)/512 || gdAt > size-gdEntries*4:
		return nil, desc, errorf(ErrFormat, "vmdk: grain directory at %#x, %d entries, is past the end of the file (%d bytes)", gdAt, gdEntries, size)
	}
	raw := make([]byte, gdEntries*4)
	if _, err := r.ReadAt(raw, gdAt); err != nil {
		return nil, desc, readError(VMDK, err, "grain directory", gdAt)
	}
	gd := make([]uint32, gdEntries)
	for i := range gd {
		gd[i] = binary.LittleEndian.Uint32(raw[4*i:])
	}
	if err := checkGrainDirectory(gd, perGT, size); err != nil {
		return nil, desc, err
	}
	g := &grainTables{r: r, gd: gd, perGT: perGT}
	g.cache.init(max(4, l2CacheBytes/int(perGT*8)))
	d := &tableDisk{
		r: r, fileSize: size, format: VMDK,
		details: Details{Subformat: "sparse extent", Unit: "grain", BlockSize: grainBytes},
		size:    int64(h.capacity) * 512, blockSize: grainBytes,
	}
	d.emptySpan = func(i int64) int64 {
		if gd[i/perGT] == 0 {
			return perGT - i%perGT
		}
		return 1
	}
	zeroGrains, markers := h.flags&vmdkFlagZeroGrain != 0, h.flags&vmdkFlagMarkers != 0
	d.locate = func(i int64) (cluster, error) {
		e, err := g.entry(i)
		switch {
		case err != nil:
			return cluster{}, err
		case e == 0:
			return cluster{kind: unallocated}, nil
		case e == vmdkZeroedGrain && zeroGrains:
			return cluster{kind: zeroed}, nil
		case isCompressed:
			// A marker (lba, size) leads the compressed data; without
			// markers its length is unknown, and QEMU reads up to two
			// grains.
			return cluster{kind: compressed, host: int64(e) * 512, csize: 2*grainBytes + 12}, nil
		}
		return cluster{kind: allocated, host: int64(e) * 512}, nil
	}
	if isCompressed {
		d.details.Compression = "deflate"
		d.inflate = func(out, in []byte) error { return inflateGrain(out, in, markers) }
		if markers {
			d.compressedLen = func(head []byte) int64 {
				if len(head) < 12 {
					return 0
				}
				return 12 + int64(binary.LittleEndian.Uint32(head[8:]))
			}
		}
	}
	return d, desc, nil
}

// checkGrainDirectory makes sure the grain tables lie within the file and
// no two directory entries share one. QEMU never writes shared tables,
// and they would let a small file describe an endless disk to walk.
func checkGrainDirectory(gd []uint32, perGT, size int64) error {
	var used []uint32
	for i, e := range gd {
		if e == 0 {
			continue
		}
		if at := int64(e) * 512; at > size-perGT*4 {
			return errorf(ErrFormat, "vmdk: grain directory entry %d points to a grain table at %#x, past the end of the file (%d bytes)", i, at, size)
		}
		used = append(used, e)
	}
	slices.Sort(used)
	for i := 1; i < len(used); i++ {
		if used[i] == used[i-1] {
			return errorf(ErrFormat, "vmdk: the grain table at %#x is used twice by the grain directory", int64(used[i])*512)
		}
	}
	return nil
}

// vmdkFooter reads the header copy that a streamOptimized file keeps at its
// end, framed by a footer marker before it and an end-of-stream marker
// after it; QEMU looks for it 1536 bytes before the last whole sector.
func vmdkFooter(r io.ReaderAt, size int64) (vmdkHeader, error) {
	at := size&^511 - 1536
	if at < 512 {
		return vmdkHeader{}, errorf(ErrFormat, "vmdk: streamOptimized file of %d bytes is too short for a footer", size)
	}
	var b [1536]byte
	if _, err := r.ReadAt(b[:], at); err != nil {
		return vmdkHeader{}, readError(VMDK, err, "footer", at)
	}
	le := binary.LittleEndian
	if le.Uint32(b[12:]) != vmdkMarkerFooter || le.Uint32(b[8:]) != 0 || string(b[512:516]) != vmdkMagic ||
		le.Uint64(b[1024:]) != 0 || le.Uint32(b[1032:]) != 0 || le.Uint32(b[1036:]) != vmdkMarkerEOS {
		return vmdkHeader{}, errorf(ErrFormat, "vmdk: no footer and end-of-stream marker at %#x, where a streamOptimized file keeps them", at)
	}
	h := parseVMDKHeader(b[512:1024])
	if h.gdOffset == vmdkGDAtEnd {
		return h, errorf(ErrFormat, "vmdk: the footer at %#x does not say where the grain directory is", at)
	}
	return h, nil
}

// inflateGrain decompresses one grain: zlib data, after a 12-byte marker
// (lba, size) when the extent uses markers. A grain that inflates to more
// than a grain is refused. libdeflate, where it is built in, takes the
// grains it finds sound; the Go decoder reads or explains the rest.
func inflateGrain(out, in []byte, markers bool) error {
	if markers {
		if len(in) < 12 {
			return io.ErrUnexpectedEOF
		}
		n := int64(binary.LittleEndian.Uint32(in[8:]))
		if n == 0 || n > int64(len(in)-12) {
			return fmt.Errorf("grain marker says %d compressed bytes; %d are available", n, len(in)-12)
		}
		in = in[12 : 12+n]
	}
	if n, ok := inflate.Zlib(out, in); ok {
		clear(out[n:])
		return nil
	}
	z, _ := zlibReaders.Get().(*zlibReader)
	if z == nil {
		z = new(zlibReader)
	}
	defer zlibReaders.Put(z)
	z.src.Reset(in)
	if z.r == nil {
		r, err := zlib.NewReader(&z.src)
		if err != nil {
			return err
		}
		z.r = r
	} else if err := z.r.(zlib.Resetter).Reset(&z.src, nil); err != nil {
		return err
	}
	zr := z.r
	n, err := io.ReadFull(zr, out)
	switch {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		// QEMU leaves a short last grain's tail as zeros.
		clear(out[n:])
	case err != nil:
		return err
	default:
		var one [1]byte
		if k, _ := zr.Read(one[:]); k > 0 {
			return fmt.Errorf("inflates to more than a grain of %d bytes", len(out))
		}
	}
	return nil
}

// zlibReader is a reusable zlib decompressor: making one per grain costs
// more than inflating the grain.
type zlibReader struct {
	src bytes.Reader
	r   io.ReadCloser
}

var zlibReaders sync.Pool

// grainTables finds grain table entries through the grain directory,
// loading tables on demand.
type grainTables struct {
	r     io.ReaderAt
	gd    []uint32
	perGT int64
	cache l2Cache
}

// entry returns the grain table entry of grain i.
func (g *grainTables) entry(i int64) (uint32, error) {
	gde := g.gd[i/g.perGT]
	if gde == 0 {
		return 0, nil
	}
	at := int64(gde) * 512
	t := g.cache.get(at)
	if t == nil { // checkGrainDirectory found it within the file
		raw := make([]byte, g.perGT*4)
		if _, err := g.r.ReadAt(raw, at); err != nil {
			return 0, readError(VMDK, err, "grain table", at)
		}
		t = make([]uint64, g.perGT)
		for j := range t {
			t[j] = uint64(binary.LittleEndian.Uint32(raw[4*j:]))
		}
		g.cache.put(at, t)
	}
	return uint32(t[i%g.perGT]), nil
}
