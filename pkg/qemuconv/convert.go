package qemuconv

import (
	"errors"
	"fmt"

	"github.com/colinux-ng/colinux/pkg/imagefmt"
)

// Options choose what part of a disk becomes the filesystem image.
type Options struct {
	// Partition selects a partition by number; 0 chooses the root
	// automatically (see ChooseRoot).
	Partition int
	// Strip, when positive, reproduces the legacy `dd bs=512 skip=Strip`.
	Strip int64
	// Whole copies the whole virtual disk, as `qemu-img convert -O raw`
	// does, for disks without a partition table or to check a format.
	Whole bool
}

// Plan is what a conversion copies: the disk's table and the chosen range.
type Plan struct {
	Table *Table
	// Mode is "partition", "whole-disk" (no table, filesystem at offset 0),
	// "strip" or "whole" (the whole virtual disk, on request).
	Mode string
	// Partition is the chosen partition; nil in whole-disk and strip modes.
	Partition *Partition
	Offset    int64
	Size      int64
	// FS is the filesystem found at Offset.
	FS FS
	// Warnings are the table's, plus anything odd about the chosen range.
	Warnings []string
}

// MakePlan reads the disk's partition table and decides what to copy.
// It first walks the image's own tables, so that a damaged image is
// reported as such rather than as a disk without a root partition.
func MakePlan(d imagefmt.Disk, opt Options) (*Plan, error) {
	switch {
	case opt.Strip < 0:
		return nil, fmt.Errorf("--strip %d: a negative number of sectors", opt.Strip)
	case opt.Partition < 0:
		return nil, fmt.Errorf("--partition %d: partitions are numbered from 1", opt.Partition)
	}
	if _, err := d.Extents(); err != nil {
		return nil, err
	}
	table, err := ReadTable(d, d.Size())
	if err != nil {
		return nil, err
	}
	p := &Plan{Table: table}
	switch {
	case opt.Whole:
		if opt.Partition > 0 || opt.Strip > 0 {
			return nil, errors.New("--whole excludes --partition and --strip")
		}
		p.Mode = "whole"
		p.Offset, p.Size = 0, d.Size()
		p.Warnings = table.Warnings
		return p, nil
	case opt.Strip > 0:
		if opt.Partition > 0 {
			return nil, errors.New("--strip and --partition exclude each other")
		}
		p.Mode = "strip"
		if p.Offset, p.Size, err = StripRange(table, d.Size(), opt.Strip); err != nil {
			return nil, err
		}
	case table.Scheme == SchemeNone && opt.Partition == 0:
		p.Mode = "whole-disk"
		p.Offset, p.Size = 0, d.Size()
		if DetectFS(d, 0, d.Size()).Type == "" {
			return nil, fmt.Errorf("%w: the disk has neither a partition table nor a filesystem at offset 0", ErrNoRoot)
		}
	default:
		part, err := ChooseRoot(table, opt.Partition)
		if err != nil {
			return nil, err
		}
		p.Mode = "partition"
		p.Partition = part
		p.Offset, p.Size = part.Start, part.Size
	}
	p.FS = DetectFS(d, p.Offset, p.Size)
	p.Warnings = table.Warnings
	if p.FS.Size > p.Size {
		// The image would hold a cut-off filesystem: the table or the
		// superblock is wrong, and the guest kernel will refuse to mount it.
		p.Warnings = append(p.Warnings, fmt.Sprintf("the %s filesystem says it is %d bytes but the range copied holds %d; the output will not mount",
			p.FS.Type, p.FS.Size, p.Size))
	}
	return p, nil
}
