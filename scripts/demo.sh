#!/usr/bin/env bash
# make demo — the README's main job, end to end:
#  1. coimage build recipes/debian.yaml: a Debian 13 systemd image;
#  2. wrap it in a QEMU disk laid out like Debian's cloud images (GPT: BIOS
#     boot 14, EFI 15, root 1 after them, qcow2), then coimage info and
#     coimage convert it back into a cobd image — byte for byte the same;
#  3. corun runs `cat /etc/os-release` in it, then boots it detached to the
#     login prompt, stops it gracefully, and e2fsck confirms it is clean.
# Needs root (coimage build chroots) and a Debian mirror (the host's apt
# sources, or $COIMAGE_DEBIAN_MIRROR). About a minute with a warm package
# cache.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"
if [ "$(id -u)" != 0 ]; then
  echo "make demo builds recipes/debian.yaml with coimage build, which needs root: run it as root" >&2
  exit 1
fi
for tool in qemu-img sfdisk e2fsck; do
  command -v "$tool" >/dev/null || { echo "demo needs $tool (qemu-utils, fdisk, e2fsprogs)" >&2; exit 1; }
done
out=out/demo
rm -rf "$out" && mkdir -p "$out"
start=$SECONDS

echo "== coimage build --output $out recipes/debian.yaml"
bin/coimage build --output "$out" recipes/debian.yaml
built=$out/debian-13.img

# A cloud-image-like disk: 1 MiB of GPT headroom, BIOS boot and EFI
# partitions, then the root partition holding the built filesystem.
size=$(stat -c %s "$built")
root_start=24576 # sectors
root_sectors=$((size / 512))
truncate -s $(((root_start + root_sectors + 2048) * 512)) "$out/disk.raw"
printf 'label: gpt\n%s14 : start=2048, size=6144, type=21686148-6449-6E6F-744E-656564454649\n%s15 : start=8192, size=16384, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n%s1 : start=%d, size=%d, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709\n' \
  "$out/disk.raw" "$out/disk.raw" "$out/disk.raw" "$root_start" "$root_sectors" | sfdisk -q "$out/disk.raw"
dd if="$built" of="$out/disk.raw" bs=1M seek=$((root_start * 512)) oflag=seek_bytes conv=sparse,notrunc status=none
qemu-img convert -O qcow2 "$out/disk.raw" "$out/disk.qcow2"
rm -f "$out/disk.raw"

echo "== coimage info $out/disk.qcow2"
bin/coimage info "$out/disk.qcow2"
echo "== coimage convert $out/disk.qcow2 $out/root.img"
bin/coimage convert "$out/disk.qcow2" "$out/root.img"
cmp "$built" "$out/root.img" && echo "round trip: $out/root.img is byte for byte the built image"
rm -f "$built"

# The demo uses the host's user-mode-linux kernel when installed, else the
# one corun fetches from the Debian archive. recipes/debian.conf holds the
# image's corun settings (memory, tuned kernel arguments).
kernel=()
if command -v linux.uml >/dev/null; then kernel=("kernel=$(command -v linux.uml)"); fi
img=$out/root.img
echo "== corun run $img @recipes/debian.conf -- cat /etc/os-release"
bin/corun run "$img" @recipes/debian.conf "${kernel[@]}" -- cat /etc/os-release

echo "== corun run --detach --name demo --log $out/console.log $img @recipes/debian.conf"
t0=$SECONDS
bin/corun run --detach --name demo --log "$out/console.log" "$img" @recipes/debian.conf "${kernel[@]}"
until grep -q 'login:' "$out/console.log" 2>/dev/null; do
  if ((SECONDS - t0 > 90)); then
    echo "no login prompt within 90 s; console log:" >&2
    tail -n 30 "$out/console.log" >&2
    bin/corun stop --force demo || true
    exit 1
  fi
  sleep 0.2
done
echo "login prompt after $((SECONDS - t0)) s:"
tr -d '\r' < "$out/console.log" | grep -v '^$' | tail -n 3
bin/corun ls
echo "== corun stop demo"
t0=$SECONDS
bin/corun stop demo
echo "stopped in $((SECONDS - t0)) s"
fsck=$(e2fsck -fn "$img" 2>&1) || { echo "$fsck" >&2; exit 1; }
echo "e2fsck -fn $img: clean"
echo "demo finished in $((SECONDS - start)) s"
