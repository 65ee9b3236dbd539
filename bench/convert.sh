#!/usr/bin/env bash
# bench/convert.sh — coimage convert against qemu-img, side by side in one run.
#
# Fixture: a 1 GiB disk, MBR, ext4 root at sector 63 holding a Debian 12
# root filesystem made by mmdebstrap (cached in bench/work). Prints:
#   coimage convert ÷ qemu-img convert --image-opts (same partition), for an
#   uncompressed and a zlib-compressed qcow2 (goals ≤ 1.0 and ≤ 0.8).
#   coimage fsyncs its output before renaming it into place; qemu-img's
#   default destination cache mode (unsafe) never flushes. Both ratios are
#   printed: against qemu-img's default, and against `-t writeback`, which
#   flushes at close like coimage (the equal-work comparison);
#   coimage convert ÷ the classic qemu-img-to-raw + dd skip=63 (goal ≤ 0.2);
#   allocated bytes of the output ÷ bytes the filesystem uses (goal ≤ 1.05).
# Times are the median of RUNS runs (default 5), each after a `sync`.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export PATH="$PATH:/usr/sbin:/sbin"
for tool in qemu-img sfdisk mke2fs mmdebstrap bc; do
  command -v $tool >/dev/null || { echo "bench/convert.sh needs $tool" >&2; exit 1; }
done
COIMAGE=${COIMAGE:-bin/coimage}
RUNS=${RUNS:-5}
work=bench/work/convert
mkdir -p "$work"

if [ ! -s "$work/rootfs.tar" ]; then
  echo "making a Debian root filesystem with mmdebstrap (once)…" >&2
  mmdebstrap --quiet --format=tar --variant=minbase --include=systemd,systemd-sysv,udev,iproute2,openssh-server,less,vim-tiny,python3-minimal \
    bookworm "$work/rootfs.tar.tmp" "$(debian_mirror)"
  mv "$work/rootfs.tar.tmp" "$work/rootfs.tar"
fi
if [ ! -s "$work/disk.qcow2" ]; then
  rm -rf "$work/tree" && mkdir "$work/tree" && tar -C "$work/tree" -xf "$work/rootfs.tar"
  rm -f "$work/disk.raw" && truncate -s 1G "$work/disk.raw"
  echo 'label: dos
start=63, type=83' | sfdisk -q "$work/disk.raw"
  sectors=$(( (1<<30)/512 - 63 ))
  mke2fs -q -F -t ext4 -L bench-root -d "$work/tree" -E offset=$((63*512)) "$work/disk.raw" $((sectors/2))
  qemu-img convert -O qcow2 "$work/disk.raw" "$work/disk.qcow2"
  qemu-img convert -O qcow2 -c "$work/disk.raw" "$work/disk-zlib.qcow2"
  rm -rf "$work/tree" "$work/disk.raw"
fi

start=$((63*512))
size=$(( (1<<30) - start ))
ref() { qemu-img convert -O raw --image-opts "driver=raw,offset=$start,size=$size,file.driver=qcow2,file.file.filename=$1" "$work/ref.img"; }
ours() { rm -f "$work/out.img"; "$COIMAGE" convert "$1" "$work/out.img"; }
classic() { qemu-img convert -O raw "$1" "$work/full.raw" && dd if="$work/full.raw" of="$work/classic.img" bs=512 skip=63 status=none; rm -f "$work/full.raw"; }

ref_wb() { qemu-img convert -t writeback -O raw --image-opts "driver=raw,offset=$start,size=$size,file.driver=qcow2,file.file.filename=$1" "$work/ref.img"; }

for img in disk.qcow2 disk-zlib.qcow2; do
  t_ours=$(median_of "$RUNS" ours "$work/$img")
  t_ref=$(median_of "$RUNS" ref "$work/$img")
  t_wb=$(median_of "$RUNS" ref_wb "$work/$img")
  cmp "$work/out.img" "$work/ref.img" || { echo "output differs from qemu-img's" >&2; exit 1; }
  echo "$img: coimage ${t_ours}s; qemu-img --image-opts ${t_ref}s (ratio $(ratio "$t_ours" "$t_ref")), with -t writeback ${t_wb}s (ratio $(ratio "$t_ours" "$t_wb"))"
done
t_ours=$(median_of "$RUNS" ours "$work/disk.qcow2")
t_classic=$(best_of 1 classic "$work/disk.qcow2")
echo "disk.qcow2: coimage ${t_ours}s, classic qemu-img + dd skip=63 ${t_classic}s, ratio $(ratio "$t_ours" "$t_classic")"

alloc=$(( $(stat -c %b "$work/out.img") * $(stat -c %B "$work/out.img") ))
read -r bcount bfree bsize < <(dumpe2fs -h "$work/out.img" 2>/dev/null | awk -F: '/^Block count/{c=$2} /^Free blocks/{f=$2} /^Block size/{s=$2} END{print c, f, s}')
used=$(( (bcount - bfree) * bsize ))
echo "allocated output ${alloc} B, filesystem uses ${used} B, ratio $(ratio "$alloc" "$used")"
rm -f "$work/out.img" "$work/ref.img" "$work/classic.img"
