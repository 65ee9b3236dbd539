package qemuconv

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/diskfs/go-diskfs/partition/gpt"
)

// ChooseRoot picks the partition holding the root filesystem. With want > 0
// it is partition number want. Otherwise it is, in order: the only
// partition typed Linux filesystem (MBR 0x83 or GPT 0FC63DAF-…); the only
// partition typed Linux root (x86-64); the largest partition holding an
// ext2/3/4, xfs or btrfs superblock (the first of equals). Anything else
// fails with an error wrapping ErrNoRoot that lists the partitions found.
func ChooseRoot(t *Table, want int) (*Partition, error) {
	if t == nil || len(t.Partitions) == 0 {
		return nil, fmt.Errorf("%w: the disk has no partitions", ErrNoRoot)
	}
	if want > 0 {
		for i := range t.Partitions {
			if t.Partitions[i].Number == want {
				return &t.Partitions[i], nil
			}
		}
		nums := make([]string, len(t.Partitions))
		for i, p := range t.Partitions {
			nums[i] = strconv.Itoa(p.Number)
		}
		return nil, fmt.Errorf("%w: --partition %d: no such partition; the disk has partitions %s",
			ErrNoRoot, want, strings.Join(nums, ", "))
	}
	if p := only(t, func(p *Partition) bool {
		return p.Type == "0x83" || p.Type == string(gpt.LinuxFilesystem)
	}); p != nil {
		return p, nil
	}
	if p := only(t, func(p *Partition) bool { return p.Type == string(gpt.LinuxRootX86_64) }); p != nil {
		return p, nil
	}
	var best *Partition
	for i := range t.Partitions {
		p := &t.Partitions[i]
		if rootFS(p.FS.Type) && (best == nil || p.Size > best.Size) {
			best = p
		}
	}
	if best != nil {
		return best, nil
	}
	found := make([]string, len(t.Partitions))
	for i, p := range t.Partitions {
		found[i] = describe(p)
	}
	return nil, fmt.Errorf("%w: no Linux partition type and no ext2/3/4, xfs or btrfs superblock among %s",
		ErrNoRoot, strings.Join(found, "; "))
}

// only returns the single partition matching, or nil for none or several.
func only(t *Table, match func(*Partition) bool) *Partition {
	var hit *Partition
	for i := range t.Partitions {
		if match(&t.Partitions[i]) {
			if hit != nil {
				return nil
			}
			hit = &t.Partitions[i]
		}
	}
	return hit
}

// rootFS reports whether a filesystem type can hold a Linux root.
func rootFS(typ string) bool {
	switch typ {
	case "ext2", "ext3", "ext4", "xfs", "btrfs":
		return true
	}
	return false
}

// describe summarises a partition for error messages:
// "2 (Linux swap, swap, 512 MiB)".
func describe(p Partition) string {
	typ := p.TypeName
	if typ == "" {
		typ = "type " + p.Type
	}
	fs := p.FS.Type
	if fs == "" {
		fs = "no filesystem"
	}
	return fmt.Sprintf("%d (%s, %s, %d MiB)", p.Number, typ, fs, p.Size>>20)
}

// StripRange returns the byte range the legacy --strip N mode copies.
// --strip reproduces dd skip=N exactly, bounded to the partition when a
// table exists: the range starts at sector N (of 512 bytes) and runs to
// the disk end or, when t lists a partition containing sector N, to that
// partition's end.
func StripRange(t *Table, diskSize int64, sectors int64) (start, length int64, err error) {
	if sectors < 0 {
		return 0, 0, fmt.Errorf("--strip %d: a negative number of sectors", sectors)
	}
	if diskSize <= 0 || sectors > (diskSize-1)/512 {
		return 0, 0, fmt.Errorf("--strip %d starts at or past the disk end (%d bytes)", sectors, diskSize)
	}
	start, end := sectors*512, diskSize
	if t != nil {
		for _, p := range t.Partitions {
			if p.Start <= start && start-p.Start < p.Size {
				end = min(p.Start+p.Size, diskSize)
				break
			}
		}
	}
	return start, end - start, nil
}
