package qemuconv

import (
	"context"
	"errors"
	"fmt"

	"github.com/colinux-ng/colinux/internal/atomicfile"
	"github.com/colinux-ng/colinux/pkg/imagefmt"
)

// Options choose what part of a disk becomes the filesystem image.
type Options struct {
	// Partition selects a partition by number; 0 chooses the root
	// automatically (see ChooseRoot).
	Partition int
	// Strip, when positive, reproduces the legacy `dd bs=512 skip=Strip`.
	Strip int64
}

// Plan is what a conversion copies: the disk's table and the chosen range.
type Plan struct {
	Table *Table
	// Mode is "partition", "whole-disk" (no table, filesystem at offset 0)
	// or "strip".
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
func MakePlan(d imagefmt.Disk, opt Options) (*Plan, error) {
	table, err := ReadTable(d, d.Size())
	if err != nil {
		return nil, err
	}
	p := &Plan{Table: table}
	switch {
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

// Convert copies the planned range of d into a new file at out in one
// sparse pass. The file appears at out only when the copy is complete; on
// any error or cancellation nothing is left there.
func Convert(ctx context.Context, d imagefmt.Disk, out string, plan *Plan, progress func(int64)) error {
	f, err := atomicfile.Create(out, 0o644)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := CopyRange(ctx, d, plan.Offset, plan.Size, f.File, progress); err != nil {
		return err
	}
	return f.Commit()
}
