// Package qemuconv turns a whole virtual disk into a bare filesystem
// ("cobd") image: it reads the partition table, chooses the root partition
// and copies it sparsely.
//
// ReadTable understands MBR (primaries and the extended chain of logical
// partitions) and GPT, and probes every partition for a filesystem
// superblock with DetectFS. Like debug/elf it works over an io.ReaderAt, so
// it reads any opened image, and it treats the disk as untrusted: every
// offset is bounds-checked and malformed tables fail with an error wrapping
// ErrTable.
//
// ChooseRoot picks the partition to copy, in this order: the partition the
// user named; the only partition typed "Linux filesystem" (MBR 0x83, GPT
// 0FC63DAF-…); the only partition typed "Linux root (x86-64)"; the largest
// partition holding an ext2/3/4, xfs or btrfs superblock. Anything else is
// ErrNoRoot, with a message listing what the disk holds.
package qemuconv
