package ext4

import (
	"encoding/binary"
	"fmt"
	"io"
)

const (
	xattrMagic = 0xEA020000
	// maxXattrValue bounds a value kept in an inode of its own (ea_inode);
	// the kernel's limit for one value is 64 KiB.
	maxXattrValue = 64 << 10
)

// Prefixes of the attribute name indexes.
var xattrPrefix = map[byte]string{
	1: "user.",
	2: "system.posix_acl_access",
	3: "system.posix_acl_default",
	4: "trusted.",
	6: "security.",
	7: "system.",
	8: "system.richacl",
}

// Xattrs returns an inode's extended attributes by full name, POSIX ACLs
// in the form getxattr(2) gives them. Inline data's system.data is left
// out: it is the file's data, not an attribute.
func (fs *FS) Xattrs(ino *Inode) (map[string][]byte, error) {
	attrs, err := fs.rawXattrs(ino)
	if err != nil {
		return nil, err
	}
	delete(attrs, "system.data")
	for _, name := range []string{"system.posix_acl_access", "system.posix_acl_default"} {
		if v, ok := attrs[name]; ok {
			if attrs[name], err = aclToXattr(v); err != nil {
				return nil, errorf(ErrFormat, "inode %d: %s: %v", ino.Num, name, err)
			}
		}
	}
	return attrs, nil
}

// rawXattrs reads the attributes in the inode's extra space and in its
// attribute block, as stored.
func (fs *FS) rawXattrs(ino *Inode) (map[string][]byte, error) {
	le := binary.LittleEndian
	attrs := map[string][]byte{}
	if fs.inodeSize > 128 {
		extra := int(le.Uint16(ino.raw[0x80:]))
		body := ino.raw[128+extra:]
		if len(body) >= 4 && le.Uint32(body) == xattrMagic {
			// Value offsets count from the first entry.
			if err := fs.parseXattrs(ino, body[4:], body[4:], attrs); err != nil {
				return nil, err
			}
		}
	}
	if ino.xattrBlock != 0 {
		b := make([]byte, fs.blockSize)
		if err := fs.readBlock(b, ino.xattrBlock); err != nil {
			return nil, fmt.Errorf("inode %d's attribute block: %w", ino.Num, err)
		}
		if le.Uint32(b) != xattrMagic {
			return nil, errorf(ErrFormat, "inode %d's attribute block %d lacks its magic", ino.Num, ino.xattrBlock)
		}
		// Value offsets count from the block's start.
		if err := fs.parseXattrs(ino, b[32:], b, attrs); err != nil {
			return nil, err
		}
	}
	return attrs, nil
}

// parseXattrs reads the entries in entries, whose values lie in values.
func (fs *FS) parseXattrs(ino *Inode, entries, values []byte, attrs map[string][]byte) error {
	le := binary.LittleEndian
	for len(entries) >= 4 && le.Uint32(entries) != 0 {
		if len(entries) < 16 {
			return errorf(ErrFormat, "inode %d: attribute entry cut short", ino.Num)
		}
		nameLen, index := int(entries[0]), entries[1]
		valueOff, valueInode, valueSize := int(le.Uint16(entries[2:])), le.Uint32(entries[4:]), int64(le.Uint32(entries[8:]))
		size := (16 + nameLen + 3) &^ 3
		if size > len(entries) {
			return errorf(ErrFormat, "inode %d: attribute name of %d bytes overruns its entries", ino.Num, nameLen)
		}
		prefix, ok := xattrPrefix[index]
		if !ok {
			return errorf(ErrUnsupported, "inode %d: attribute name index %d", ino.Num, index)
		}
		name := prefix + string(entries[16:16+nameLen])
		var value []byte
		if valueInode != 0 {
			v, err := fs.xattrInode(ino, valueInode, valueSize)
			if err != nil {
				return err
			}
			value = v
		} else {
			if int64(valueOff)+valueSize > int64(len(values)) {
				return errorf(ErrFormat, "inode %d: value of %s at %d, %d bytes, overruns its block", ino.Num, name, valueOff, valueSize)
			}
			value = append([]byte(nil), values[valueOff:int64(valueOff)+valueSize]...)
		}
		attrs[name] = value
		entries = entries[size:]
	}
	return nil
}

// xattrInode reads a value kept in an inode of its own (ea_inode).
func (fs *FS) xattrInode(owner *Inode, n uint32, size int64) ([]byte, error) {
	if size > maxXattrValue {
		return nil, errorf(ErrFormat, "inode %d: attribute value of %d bytes", owner.Num, size)
	}
	vi, err := fs.Inode(n)
	if err != nil {
		return nil, err
	}
	if vi.flags&flagEAInode == 0 || vi.Size != size {
		return nil, errorf(ErrFormat, "inode %d: attribute value inode %d is not one (flags %#x, size %d of %d)", owner.Num, n, vi.flags, vi.Size, size)
	}
	r, err := fs.Open(vi)
	if err != nil {
		return nil, err
	}
	b := make([]byte, size)
	if _, err := r.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}

// POSIX ACL entry tags.
const (
	aclUserObj  = 0x01
	aclUser     = 0x02
	aclGroupObj = 0x04
	aclGroup    = 0x08
	aclMask     = 0x10
	aclOther    = 0x20
)

// aclToXattr converts an ACL from ext4's compact form (version 1; entries
// without an id are 4 bytes) to the form of the system.posix_acl_*
// attributes (version 2; every entry 8 bytes, no id being 0xffffffff).
func aclToXattr(b []byte) ([]byte, error) {
	le := binary.LittleEndian
	if len(b) < 4 || le.Uint32(b) != 1 {
		return nil, fmt.Errorf("not an ext4 ACL")
	}
	out := le.AppendUint32(nil, 2)
	for b = b[4:]; len(b) > 0; {
		if len(b) < 4 {
			return nil, fmt.Errorf("entry cut short")
		}
		tag, perm := le.Uint16(b), le.Uint16(b[2:])
		id := uint32(0xffffffff)
		switch tag {
		case aclUser, aclGroup:
			if len(b) < 8 {
				return nil, fmt.Errorf("entry cut short")
			}
			id = le.Uint32(b[4:])
			b = b[8:]
		case aclUserObj, aclGroupObj, aclMask, aclOther:
			b = b[4:]
		default:
			return nil, fmt.Errorf("entry tag %#x", tag)
		}
		out = le.AppendUint16(out, tag)
		out = le.AppendUint16(out, perm)
		out = le.AppendUint32(out, id)
	}
	return out, nil
}
