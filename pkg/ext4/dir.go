package ext4

import (
	"encoding/binary"
	"io"
	"strings"
)

// maxDirSize bounds a directory read into memory.
const maxDirSize = 1 << 30

// DirEntry is a name in a directory.
type DirEntry struct {
	Name  string
	Inode uint32
}

// ReadDir lists a directory's entries in the order they are stored, without
// "." and "..". Hashed (htree) directories are read by their leaf blocks,
// which hold every entry; the index blocks look like empty entries.
func (fs *FS) ReadDir(ino *Inode) ([]DirEntry, error) {
	if ino.Type() != TypeDir {
		return nil, errorf(ErrFormat, "inode %d is not a directory", ino.Num)
	}
	if ino.Size > maxDirSize {
		return nil, errorf(ErrUnsupported, "directory inode %d of %d bytes", ino.Num, ino.Size)
	}
	if ino.flags&flagInlineData != 0 {
		data, err := fs.inlineData(ino)
		if err != nil {
			return nil, err
		}
		// The first four bytes name the parent; entries follow, in i_block
		// and then in system.data, each part a run of entries of its own.
		if len(data) < 4 {
			return nil, nil
		}
		var out []DirEntry
		parts := [][]byte{data[4:min(len(data), len(ino.block))]}
		if len(data) > len(ino.block) {
			parts = append(parts, data[len(ino.block):])
		}
		for _, p := range parts {
			var err error
			if out, err = fs.parseEntries(ino, p, out); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	r, err := fs.Open(ino)
	if err != nil {
		return nil, err
	}
	var out []DirEntry
	buf := make([]byte, fs.blockSize)
	for off := int64(0); off < ino.Size; off += fs.blockSize {
		n, err := r.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			return nil, err
		}
		if out, err = fs.parseEntries(ino, buf[:n], out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseEntries appends the entries of one directory block (or inline part).
func (fs *FS) parseEntries(dir *Inode, b []byte, out []DirEntry) ([]DirEntry, error) {
	le := binary.LittleEndian
	for len(b) >= 8 {
		inode, recLen := le.Uint32(b), int(le.Uint16(b[4:]))
		nameLen := int(b[6])
		if fs.incompat&incompatFiletype == 0 {
			nameLen = int(le.Uint16(b[6:]))
		}
		if recLen == 0 && inode == 0 && allZero(b) {
			break // an inline part's unused tail
		}
		if recLen < 8 || recLen > len(b) || recLen%4 != 0 || 8+nameLen > recLen {
			return nil, errorf(ErrFormat, "directory inode %d: entry with record length %d, name length %d in %d bytes", dir.Num, recLen, nameLen, len(b))
		}
		if inode != 0 {
			name := string(b[8 : 8+nameLen])
			switch {
			case name == "." || name == "..":
			case name == "" || strings.ContainsAny(name, "/\x00"):
				return nil, errorf(ErrFormat, "directory inode %d holds an entry named %q", dir.Num, name)
			default:
				out = append(out, DirEntry{Name: name, Inode: inode})
			}
		}
		b = b[recLen:]
	}
	return out, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
