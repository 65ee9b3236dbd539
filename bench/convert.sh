#!/usr/bin/env bash
# bench/convert.sh — coimage convert and export against qemu-img, side by
# side in one run.
#
# Fixture: a 1 GiB disk, MBR, ext4 root at sector 63 holding a Debian 12
# root filesystem made by mmdebstrap (~300 MB of data; cached in
# bench/work), and the same disk as vmdk (streamOptimized), vhdx, vhd and
# vdi, and as uncompressed and zlib qcow2.
#
# coimage fsyncs its output before renaming it into place; qemu-img's
# default destination cache mode (unsafe) never flushes. Every ratio is
# printed twice: against qemu-img's default, and against `-t writeback`,
# which flushes at close like coimage (strace shows one fdatasync of the
# output before exit, so no extra `sync` is needed after it). The goals are
# judged against `-t writeback`, the equal-durability comparison: dropping
# coimage's fsync would make the benchmark easier, not equal, and would
# leave a crash after `convert` with a file that is not on disk. Goals:
#   whole-disk convert ÷ qemu-img convert -O raw, per format:      ≤ 0.8
#   export qcow2 ÷ qemu-img convert -O qcow2:                      ≤ 1.0
#   export --compress ÷ qemu-img convert -c -O qcow2:              ≤ 0.5
#   qcow2 → cobd image ÷ qemu-img --image-opts (same partition):   ≤ 0.7
#   zlib qcow2 → cobd image, likewise:                             ≤ 0.4
#   coimage convert ÷ the classic qemu-img-to-raw + dd skip=63:    ≤ 0.2
#   allocated bytes of the cobd image ÷ bytes the filesystem uses: ≤ 1.05
# Times are the median of RUNS runs (default 5), each after a `sync`;
# the spread (min–max) is printed beside each median, and the median CPU
# time (user + system) of both tools beside that. CASES (default
# "whole export qcow2") picks which groups run, e.g. CASES=qcow2.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export PATH="$PATH:/usr/sbin:/sbin"
for tool in qemu-img sfdisk mke2fs mmdebstrap bc; do
  command -v $tool >/dev/null || { echo "bench/convert.sh needs $tool" >&2; exit 1; }
done
COIMAGE=${COIMAGE:-bin/coimage}
RUNS=${RUNS:-5}
CASES=${CASES:-whole export qcow2}
for c in $CASES; do
  case $c in whole|export|qcow2) ;; *) echo "CASES: unknown group $c (whole, export, qcow2)" >&2; exit 1 ;; esac
done
runs() { [[ " $CASES " == *" $1 "* ]]; }
work=bench/work/convert
mkdir -p "$work"

if [ ! -s "$work/rootfs.tar" ]; then
  echo "making a Debian root filesystem with mmdebstrap (once)…" >&2
  mmdebstrap --quiet --format=tar --variant=minbase --include=systemd,systemd-sysv,udev,iproute2,openssh-server,less,vim-tiny,python3-minimal \
    bookworm "$work/rootfs.tar.tmp" "$(debian_mirror)"
  mv "$work/rootfs.tar.tmp" "$work/rootfs.tar"
fi
start=$((63*512))
size=$(( (1<<30) - start ))
if [ ! -s "$work/disk.vdi" ]; then
  echo "making the fixture disks (once)…" >&2
  rm -rf "$work/tree" && mkdir "$work/tree" && tar -C "$work/tree" -xf "$work/rootfs.tar"
  rm -f "$work/disk.raw" && truncate -s 1G "$work/disk.raw"
  echo 'label: dos
start=63, type=83' | sfdisk -q "$work/disk.raw"
  sectors=$(( (1<<30)/512 - 63 ))
  mke2fs -q -F -t ext4 -L bench-root -d "$work/tree" -E offset=$start "$work/disk.raw" $((sectors/2))
  qemu-img convert -O qcow2 "$work/disk.raw" "$work/disk.qcow2"
  qemu-img convert -O qcow2 -c "$work/disk.raw" "$work/disk-zlib.qcow2"
  qemu-img convert -O vmdk -o subformat=streamOptimized "$work/disk.raw" "$work/disk.vmdk"
  qemu-img convert -O vhdx "$work/disk.raw" "$work/disk.vhdx"
  qemu-img convert -O vpc "$work/disk.raw" "$work/disk.vhd"
  qemu-img convert -O vdi "$work/disk.raw" "$work/disk.vdi"
  qemu-img convert -O raw --image-opts "driver=raw,offset=$start,size=$size,file.driver=file,file.filename=$work/disk.raw" "$work/cobd.img"
  rm -rf "$work/tree" "$work/disk.raw"
fi

# timing NAME OUTPUT CMD...: the median wall time of RUNS runs, with the spread,
# and the median CPU time (user + system) — steadier than wall time on a
# machine others share, and what two cores can turn into wall time.
declare -A med spread cpu
timing() {
  local name=$1 output=$2; shift 2
  local walls="" cpus="" out TIMEFORMAT='%3R %3U %3S'
  out=$(mktemp)
  for _ in $(seq "$RUNS"); do
    # The last run's output is deleted before the clock starts: freeing its
    # ~300 MB of blocks took ~0.1 s here, for either tool (qemu-img
    # truncates an existing output), a constant that is no part of a
    # conversion and pulled every ratio towards 1.
    rm -f "$output"
    sync
    # bash's own `time`: millisecond resolution (GNU time's %e has 10 ms,
    # 4 % of a 0.25 s conversion) and no child shell around the command.
    { time "$@" >/dev/null 2>&1; } 2>"$out" || { echo "benchmark command failed: $*" >&2; exit 1; }
    read -r e u s < "$out"
    walls+="$e"$'\n'; cpus+="$(echo "$u + $s" | bc -l)"$'\n'
  done
  rm -f "$out"
  walls=$(echo -n "$walls" | sort -g); cpus=$(echo -n "$cpus" | sort -g)
  local mid=$(( (RUNS + 1) / 2 ))
  med[$name]=$(printf '%.3f' "$(echo "$walls" | sed -n "${mid}p")")
  spread[$name]=$(printf '%.3f–%.3f' "$(echo "$walls" | head -n 1)" "$(echo "$walls" | tail -n 1)")
  cpu[$name]=$(printf '%.3f' "$(echo "$cpus" | sed -n "${mid}p")")
}
line() { # line LABEL OURS REF REF_WB GOAL
  local wb verdict=met
  wb=$(ratio "${med[$2]}" "${med[$4]}")
  [ "$(echo "$wb <= $5" | bc -l)" = 1 ] || verdict=MISSED
  printf '%-32s coimage %ss (%s), qemu-img %ss (%s): ratio %s; -t writeback %ss (%s): ratio %s (goal ≤ %s: %s); cpu %ss vs %ss: ratio %s\n' \
    "$1" "${med[$2]}" "${spread[$2]}" "${med[$3]}" "${spread[$3]}" "$(ratio "${med[$2]}" "${med[$3]}")" \
    "${med[$4]}" "${spread[$4]}" "$wb" "$5" "$verdict" "${cpu[$2]}" "${cpu[$3]}" "$(ratio "${cpu[$2]}" "${cpu[$3]}")"
}

# Whole-disk convert, per format.
if runs whole; then
  whole() { "$COIMAGE" convert --whole "$1" "$work/out.raw"; }
  whole_ref() { qemu-img convert $2 -O raw "$1" "$work/ref.raw"; }
  for f in vmdk vhdx vhd vdi; do
    fmt=$f; [ $f = vhd ] && fmt=vpc
    timing "whole-$f" "$work/out.raw" whole "$work/disk.$f"
    timing "whole-$f-ref" "$work/ref.raw" whole_ref "$work/disk.$f" "-f $fmt"
    timing "whole-$f-wb" "$work/ref.raw" whole_ref "$work/disk.$f" "-f $fmt -t writeback"
    cmp "$work/out.raw" "$work/ref.raw" || { echo "whole-disk convert of $f differs from qemu-img's" >&2; exit 1; }
    line "convert --whole $f" "whole-$f" "whole-$f-ref" "whole-$f-wb" 0.8
  done
  rm -f "$work/out.raw" "$work/ref.raw"
fi

# Export of the cobd image to qcow2, plain and compressed.
if runs export; then
  export_ours() { "$COIMAGE" export --format qcow2 $2 "$1" "$work/out.qcow2"; }
  export_ref() { qemu-img convert $2 -f raw -O qcow2 "$1" "$work/ref.qcow2"; }
  timing export "$work/out.qcow2" export_ours "$work/cobd.img" ""
  timing export-ref "$work/ref.qcow2" export_ref "$work/cobd.img" ""
  timing export-wb "$work/ref.qcow2" export_ref "$work/cobd.img" "-t writeback"
  qemu-img compare -q -f raw -F qcow2 "$work/cobd.img" "$work/out.qcow2" || { echo "export differs from the image" >&2; exit 1; }
  line "export qcow2" export export-ref export-wb 1.0
  timing export-c "$work/out.qcow2" export_ours "$work/cobd.img" "--compress"
  timing export-c-ref "$work/ref.qcow2" export_ref "$work/cobd.img" "-c"
  timing export-c-wb "$work/ref.qcow2" export_ref "$work/cobd.img" "-c -t writeback"
  qemu-img compare -q -f raw -F qcow2 "$work/cobd.img" "$work/out.qcow2" || { echo "compressed export differs from the image" >&2; exit 1; }
  line "export qcow2 --compress (zlib)" export-c export-c-ref export-c-wb 0.5
  echo "  sizes: coimage $(stat -c %s "$work/out.qcow2") B, qemu-img $(stat -c %s "$work/ref.qcow2") B"
  rm -f "$work/out.qcow2" "$work/ref.qcow2"
fi

# qcow2 → cobd image (the root partition).
runs qcow2 || exit 0
ours() { "$COIMAGE" convert "$1" "$work/out.img"; }
ref() { qemu-img convert $2 -O raw --image-opts "driver=raw,offset=$start,size=$size,file.driver=qcow2,file.file.filename=$1" "$work/ref.img"; }
for img in disk disk-zlib; do
  timing "$img" "$work/out.img" ours "$work/$img.qcow2"
  timing "$img-ref" "$work/ref.img" ref "$work/$img.qcow2" ""
  timing "$img-wb" "$work/ref.img" ref "$work/$img.qcow2" "-t writeback"
  cmp "$work/out.img" "$work/ref.img" || { echo "output differs from qemu-img's" >&2; exit 1; }
  goal=0.7; [ $img = disk-zlib ] && goal=0.4
  line "$img.qcow2 → cobd image" "$img" "$img-ref" "$img-wb" $goal
done
# The device's floor for this output: copying its bytes (holes kept) and
# fsyncing the copy, with no format to decode.
floor() { cp --sparse=always "$work/out.img" "$work/floor.img" && sync "$work/floor.img"; }
timing floor "$work/floor.img" floor
echo "disk.qcow2: coimage ${med[disk]}s, cp --sparse=always of its output + fsync ${med[floor]}s (${spread[floor]}), ratio $(ratio "${med[disk]}" "${med[floor]}")"
classic() { qemu-img convert -O raw "$1" "$work/full.raw" && dd if="$work/full.raw" of="$work/classic.img" bs=512 skip=63 status=none; rm -f "$work/full.raw"; }
t_classic=$(best_of 1 classic "$work/disk.qcow2")
echo "disk.qcow2: coimage ${med[disk]}s, classic qemu-img + dd skip=63 ${t_classic}s, ratio $(ratio "${med[disk]}" "$t_classic") (goal ≤ 0.2)"

alloc=$(( $(stat -c %b "$work/out.img") * $(stat -c %B "$work/out.img") ))
read -r bcount bfree bsize < <(dumpe2fs -h "$work/out.img" 2>/dev/null | awk -F: '/^Block count/{c=$2} /^Free blocks/{f=$2} /^Block size/{s=$2} END{print c, f, s}')
used=$(( (bcount - bfree) * bsize ))
echo "allocated output ${alloc} B, filesystem uses ${used} B, ratio $(ratio "$alloc" "$used") (goal ≤ 1.05)"
rm -f "$work/out.img" "$work/ref.img" "$work/classic.img" "$work/floor.img"
