package ext4

import (
	"encoding/binary"
	"fmt"
	"io"
	"sort"
)

// run maps count logical blocks of a file from logical to physical.
type run struct {
	logical, physical, count int64
}

const (
	extentMagic    = 0xF30A
	maxExtentDepth = 5
	// A leaf entry's length above this marks an uninitialised extent,
	// which reads as zeros.
	extentInitMax = 32768
)

// runs returns where the file's data blocks are, sorted by logical block,
// up to the block holding its last byte; blocks not listed read as zeros.
// Every tree or indirect block is visited once, so a tree that reuses its
// blocks cannot make the walk long.
func (fs *FS) runs(ino *Inode) ([]run, error) {
	limit := (ino.Size + fs.blockSize - 1) / fs.blockSize
	w := &walker{fs: fs, ino: ino, limit: limit, seen: map[int64]bool{}}
	var err error
	if ino.flags&flagExtents != 0 {
		err = w.extents(ino.block, maxExtentDepth+1, 0, 1<<32)
	} else {
		err = w.blockMap()
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(w.out, func(i, j int) bool { return w.out[i].logical < w.out[j].logical })
	for i := 1; i < len(w.out); i++ {
		if prev := w.out[i-1]; prev.logical+prev.count > w.out[i].logical {
			return nil, errorf(ErrFormat, "inode %d maps logical block %d twice", ino.Num, w.out[i].logical)
		}
	}
	return w.out, nil
}

type walker struct {
	fs    *FS
	ino   *Inode
	limit int64 // logical blocks past this are beyond the file's size
	seen  map[int64]bool
	out   []run
}

// visit claims a tree block for this walk.
func (w *walker) visit(b int64) error {
	if w.seen[b] {
		return errorf(ErrFormat, "inode %d uses block %d twice in its block tree", w.ino.Num, b)
	}
	w.seen[b] = true
	return nil
}

// add records a run, clipped to the file's size, after checking that it
// lies within the filesystem.
func (w *walker) add(logical, physical, count int64) error {
	if physical <= 0 || count <= 0 || physical > w.fs.blocks-count {
		return errorf(ErrFormat, "inode %d maps logical block %d to blocks %d+%d, outside the %d blocks", w.ino.Num, logical, physical, count, w.fs.blocks)
	}
	if logical >= w.limit {
		return nil
	}
	w.out = append(w.out, run{logical, physical, min(count, w.limit-logical)})
	return nil
}

// extents walks an extent tree node: the 60-byte root in the inode or a
// tree block. maxDepth is what the node's depth must stay below; [lo, hi)
// is the logical range its parent says it covers.
func (w *walker) extents(node []byte, maxDepth int, lo, hi int64) error {
	le := binary.LittleEndian
	if len(node) < 12 || le.Uint16(node) != extentMagic {
		return errorf(ErrFormat, "inode %d: extent node without its magic", w.ino.Num)
	}
	entries, capacity, depth := int(le.Uint16(node[2:])), int(le.Uint16(node[4:])), int(le.Uint16(node[6:]))
	if entries > capacity || 12+12*capacity > len(node) || depth >= maxDepth {
		return errorf(ErrFormat, "inode %d: extent node of %d/%d entries at depth %d", w.ino.Num, entries, capacity, depth)
	}
	for i := range entries {
		e := node[12+12*i:]
		logical := int64(le.Uint32(e))
		if logical < lo || logical >= hi {
			return errorf(ErrFormat, "inode %d: extent for logical block %d outside its parent's range", w.ino.Num, logical)
		}
		if depth == 0 {
			n := int64(le.Uint16(e[4:]))
			physical := int64(le.Uint16(e[6:]))<<32 | int64(le.Uint32(e[8:]))
			if n > extentInitMax {
				continue // uninitialised: zeros
			}
			if err := w.add(logical, physical, n); err != nil {
				return err
			}
			continue
		}
		child := int64(le.Uint16(e[8:]))<<32 | int64(le.Uint32(e[4:]))
		end := hi
		if i+1 < entries {
			end = int64(le.Uint32(node[12+12*(i+1):]))
		}
		if err := w.visit(child); err != nil {
			return err
		}
		buf := make([]byte, w.fs.blockSize)
		if err := w.fs.readBlock(buf, child); err != nil {
			return fmt.Errorf("inode %d: %w", w.ino.Num, err)
		}
		if err := w.extents(buf, depth, logical, end); err != nil {
			return err
		}
	}
	return nil
}

// blockMap walks the ext2/3 map: 12 direct blocks, then single, double
// and triple indirect blocks.
func (w *walker) blockMap() error {
	le := binary.LittleEndian
	per := w.fs.blockSize / 4
	for i := range int64(12) {
		if b := int64(le.Uint32(w.ino.block[4*i:])); b != 0 {
			if err := w.add(i, b, 1); err != nil {
				return err
			}
		}
	}
	base, span := int64(12), int64(1)
	for level := 1; level <= 3; level++ {
		span *= per
		if b := int64(le.Uint32(w.ino.block[4*(11+level):])); b != 0 && base < w.limit {
			if err := w.indirect(b, level, base); err != nil {
				return err
			}
		}
		base += span
	}
	return nil
}

// indirect walks an indirect block of the given level whose first entry
// maps logical block base.
func (w *walker) indirect(b int64, level int, base int64) error {
	if err := w.visit(b); err != nil {
		return err
	}
	buf := make([]byte, w.fs.blockSize)
	if err := w.fs.readBlock(buf, b); err != nil {
		return fmt.Errorf("inode %d: %w", w.ino.Num, err)
	}
	per := w.fs.blockSize / 4
	span := int64(1)
	for range level - 1 {
		span *= per
	}
	for i := range per {
		logical := base + i*span
		if logical >= w.limit {
			break
		}
		p := int64(binary.LittleEndian.Uint32(buf[4*i:]))
		if p == 0 {
			continue
		}
		var err error
		if level == 1 {
			err = w.add(logical, p, 1)
		} else {
			err = w.indirect(p, level-1, logical)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// DataRanges lists the byte ranges of a regular file that hold data; the
// rest of its size reads as zeros.
func (fs *FS) DataRanges(ino *Inode) ([][2]int64, error) {
	if ino.flags&flagInlineData != 0 {
		data, err := fs.inlineData(ino)
		if err != nil || len(data) == 0 {
			return nil, err
		}
		return [][2]int64{{0, int64(len(data))}}, nil
	}
	runs, err := fs.runs(ino)
	if err != nil {
		return nil, err
	}
	var out [][2]int64
	for _, r := range runs {
		start, end := r.logical*fs.blockSize, min((r.logical+r.count)*fs.blockSize, ino.Size)
		if n := len(out); n > 0 && out[n-1][1] == start {
			out[n-1][1] = end
			continue
		}
		out = append(out, [2]int64{start, end})
	}
	return out, nil
}

// Open returns a reader of a regular file's or symbolic link's data,
// exactly its size long.
func (fs *FS) Open(ino *Inode) (io.ReaderAt, error) {
	if ino.flags&flagInlineData != 0 {
		data, err := fs.inlineData(ino)
		if err != nil {
			return nil, err
		}
		return &bytesAt{data, ino.Size}, nil
	}
	runs, err := fs.runs(ino)
	if err != nil {
		return nil, err
	}
	return &fileReader{fs: fs, size: ino.Size, runs: runs}, nil
}

// fileReader reads a file through its runs; holes read as zeros.
type fileReader struct {
	fs   *FS
	size int64
	runs []run
}

func (f *fileReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.size {
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > f.size-off {
		p, eof = p[:f.size-off], io.EOF
	}
	clear(p)
	bs := f.fs.blockSize
	end := off + int64(len(p))
	i := sort.Search(len(f.runs), func(i int) bool { return (f.runs[i].logical+f.runs[i].count)*bs > off })
	for ; i < len(f.runs) && f.runs[i].logical*bs < end; i++ {
		r := f.runs[i]
		lo, hi := max(off, r.logical*bs), min(end, (r.logical+r.count)*bs)
		at := r.physical*bs + lo - r.logical*bs
		if _, err := f.fs.r.ReadAt(p[lo-off:hi-off], at); err != nil && err != io.EOF {
			return 0, fmt.Errorf("reading block %d: %w", at/bs, err)
		}
	}
	return len(p), eof
}

// bytesAt reads b and then zeros, size bytes in all.
type bytesAt struct {
	b    []byte
	size int64
}

func (r *bytesAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > r.size-off {
		p, eof = p[:r.size-off], io.EOF
	}
	clear(p)
	if off < int64(len(r.b)) {
		copy(p, r.b[off:])
	}
	return len(p), eof
}

// inlineData returns the data of an inode with the inline_data flag: the
// 60 bytes of i_block, then the system.data attribute, up to its size. A
// size past them reads as zeros, as the kernel reads it (mke2fs -d stores
// a file of holes only this way).
func (fs *FS) inlineData(ino *Inode) ([]byte, error) {
	attrs, err := fs.rawXattrs(ino)
	if err != nil {
		return nil, err
	}
	data := append(append([]byte(nil), ino.block...), attrs["system.data"]...)
	return data[:min(ino.Size, int64(len(data)))], nil
}

// Readlink returns a symbolic link's target.
func (fs *FS) Readlink(ino *Inode) (string, error) {
	if ino.Type() != TypeSymlink {
		return "", errorf(ErrFormat, "inode %d is not a symbolic link", ino.Num)
	}
	if ino.Size > 4096 {
		return "", errorf(ErrFormat, "symbolic link inode %d of %d bytes", ino.Num, ino.Size)
	}
	// A short target sits in i_block itself ("fast" link) unless the inode
	// says its data is in blocks or inline.
	if ino.flags&(flagExtents|flagInlineData) == 0 && ino.Size < int64(len(ino.block)) {
		return string(ino.block[:ino.Size]), nil
	}
	r, err := fs.Open(ino)
	if err != nil {
		return "", err
	}
	b := make([]byte, ino.Size)
	if _, err := r.ReadAt(b, 0); err != nil && err != io.EOF {
		return "", err
	}
	return string(b), nil
}
