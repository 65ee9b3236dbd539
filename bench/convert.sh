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
# Times are the median of RUNS runs (default 5), each after a `sync`, the
# tools taking turns run by run; the spread (min–max) is printed beside
# each median, and the median CPU time (user + system) of both tools
# beside that. CASES (default "whole export qcow2") picks which groups
# run, e.g. CASES=qcow2.
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

# run_once NAME OUTPUT CMD...: one timed run of CMD (a function of this
# script), its wall and CPU time (user + system: steadier than wall time on
# a machine others share, and what two cores can turn into wall time)
# added to NAME's.
declare -A walls cpus med spread cpu
times=$(mktemp)
trap 'rm -f "$times"' EXIT
run_once() {
  local name=$1 output=$2 e u s TIMEFORMAT='%3R %3U %3S'; shift 2
  # The last run's output is deleted before the clock starts: freeing its
  # ~300 MB of blocks took ~0.1 s here, for either tool (qemu-img
  # truncates an existing output), a constant that is no part of a
  # conversion and pulled every ratio towards 1.
  rm -f "$output"
  sync
  # bash's own `time`: millisecond resolution (GNU time's %e has 10 ms,
  # 4 % of a 0.25 s conversion) and no child process around the command.
  { time "$@" >/dev/null 2>&1; } 2>"$times" || { echo "benchmark command failed: $*" >&2; exit 1; }
  read -r e u s < "$times"
  walls[$name]+="$e"$'\n'; cpus[$name]+="$(echo "$u + $s" | bc -l)"$'\n'
}
# summarize NAME: the median wall time of NAME's runs, the spread, and the
# median CPU time.
summarize() {
  local w c mid=$(( (RUNS + 1) / 2 ))
  w=$(echo -n "${walls[$1]}" | sort -g); c=$(echo -n "${cpus[$1]}" | sort -g)
  med[$1]=$(printf '%.3f' "$(echo "$w" | sed -n "${mid}p")")
  spread[$1]=$(printf '%.3f–%.3f' "$(echo "$w" | head -n 1)" "$(echo "$w" | tail -n 1)")
  cpu[$1]=$(printf '%.3f' "$(echo "$c" | sed -n "${mid}p")")
}
# compare KEY LABEL GOAL OURS_OUTPUT REF_OUTPUT: RUNS rounds of `ours`
# (coimage), `ref` (qemu-img, its default cache mode) and `ref -t
# writeback`, the functions the caller defined, taking turns so that a
# machine that speeds up or slows down during the rounds favours neither;
# the results are KEY, KEY-ref and KEY-wb, and a line with the ratios.
compare() {
  local key=$1 label=$2 goal=$3 out=$4 refout=$5 wb verdict=met
  for _ in $(seq "$RUNS"); do
    run_once "$key" "$out" ours
    run_once "$key-ref" "$refout" ref
    run_once "$key-wb" "$refout" ref -t writeback
  done
  summarize "$key"; summarize "$key-ref"; summarize "$key-wb"
  wb=$(ratio "${med[$key]}" "${med[$key-wb]}")
  [ "$(echo "$wb <= $goal" | bc -l)" = 1 ] || verdict=MISSED
  printf '%-32s coimage %ss (%s), qemu-img %ss (%s): ratio %s; -t writeback %ss (%s): ratio %s (goal ≤ %s: %s); cpu %ss vs %ss: ratio %s\n' \
    "$label" "${med[$key]}" "${spread[$key]}" "${med[$key-ref]}" "${spread[$key-ref]}" "$(ratio "${med[$key]}" "${med[$key-ref]}")" \
    "${med[$key-wb]}" "${spread[$key-wb]}" "$wb" "$goal" "$verdict" "${cpu[$key]}" "${cpu[$key-ref]}" "$(ratio "${cpu[$key]}" "${cpu[$key-ref]}")"
}

# Whole-disk convert, per format.
if runs whole; then
  for f in vmdk vhdx vhd vdi; do
    fmt=$f; [ $f = vhd ] && fmt=vpc
    ours() { "$COIMAGE" convert --whole "$work/disk.$f" "$work/out.raw"; }
    ref() { qemu-img convert -f $fmt "$@" -O raw "$work/disk.$f" "$work/ref.raw"; }
    compare "whole-$f" "convert --whole $f" 0.8 "$work/out.raw" "$work/ref.raw"
    cmp "$work/out.raw" "$work/ref.raw" || { echo "whole-disk convert of $f differs from qemu-img's" >&2; exit 1; }
  done
  rm -f "$work/out.raw" "$work/ref.raw"
fi

# Export of the cobd image to qcow2, plain and compressed.
if runs export; then
  for c in "" --compress; do
    ours() { "$COIMAGE" export --format qcow2 $c "$work/cobd.img" "$work/out.qcow2"; }
    ref() { qemu-img convert ${c:+-c} "$@" -f raw -O qcow2 "$work/cobd.img" "$work/ref.qcow2"; }
    compare "export$c" "export qcow2${c:+ $c (zlib)}" "$([ -n "$c" ] && echo 0.5 || echo 1.0)" "$work/out.qcow2" "$work/ref.qcow2"
    qemu-img compare -q -f raw -F qcow2 "$work/cobd.img" "$work/out.qcow2" || { echo "export${c:+ $c} differs from the image" >&2; exit 1; }
  done
  echo "  sizes (--compress): coimage $(stat -c %s "$work/out.qcow2") B, qemu-img $(stat -c %s "$work/ref.qcow2") B"
  rm -f "$work/out.qcow2" "$work/ref.qcow2"
fi

# qcow2 → cobd image (the root partition).
runs qcow2 || exit 0
for img in disk disk-zlib; do
  ours() { "$COIMAGE" convert "$work/$img.qcow2" "$work/out.img"; }
  ref() { qemu-img convert "$@" -O raw --image-opts "driver=raw,offset=$start,size=$size,file.driver=qcow2,file.file.filename=$work/$img.qcow2" "$work/ref.img"; }
  goal=0.7; [ $img = disk-zlib ] && goal=0.4
  compare "$img" "$img.qcow2 → cobd image" $goal "$work/out.img" "$work/ref.img"
  cmp "$work/out.img" "$work/ref.img" || { echo "output differs from qemu-img's" >&2; exit 1; }
done
# The device's floor for this output: copying its bytes (holes kept) and
# fsyncing the copy, with no format to decode.
floor() { cp --sparse=always "$work/out.img" "$work/floor.img" && sync "$work/floor.img"; }
for _ in $(seq "$RUNS"); do run_once floor "$work/floor.img" floor; done
summarize floor
echo "disk.qcow2: coimage ${med[disk]}s, cp --sparse=always of its output + fsync ${med[floor]}s (${spread[floor]}), ratio $(ratio "${med[disk]}" "${med[floor]}")"
classic() { qemu-img convert -O raw "$1" "$work/full.raw" && dd if="$work/full.raw" of="$work/classic.img" bs=512 skip=63 status=none; rm -f "$work/full.raw"; }
t_classic=$(best_of 1 classic "$work/disk.qcow2")
echo "disk.qcow2: coimage ${med[disk]}s, classic qemu-img + dd skip=63 ${t_classic}s, ratio $(ratio "${med[disk]}" "$t_classic") (goal ≤ 0.2)"

alloc=$(( $(stat -c %b "$work/out.img") * $(stat -c %B "$work/out.img") ))
read -r bcount bfree bsize < <(dumpe2fs -h "$work/out.img" 2>/dev/null | awk -F: '/^Block count/{c=$2} /^Free blocks/{f=$2} /^Block size/{s=$2} END{print c, f, s}')
used=$(( (bcount - bfree) * bsize ))
echo "allocated output ${alloc} B, filesystem uses ${used} B, ratio $(ratio "$alloc" "$used") (goal ≤ 1.05)"
rm -f "$work/out.img" "$work/ref.img" "$work/classic.img" "$work/floor.img"
