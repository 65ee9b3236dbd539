#!/usr/bin/env bash
# make demo — the README's main job, end to end:
#  1. make a sample QEMU disk laid out like Debian's cloud images (BIOS boot
#     14, EFI 15, root 1 after them) whose root holds a busybox system;
#  2. coimage info + coimage convert it into a cobd image;
#  3. corun runs a command in it, then boots it detached and stops it
#     gracefully; e2fsck confirms the image is clean.
# (When `coimage build` lands, the root comes from recipes/debian.yaml.)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"
out=out/demo
rm -rf "$out" && mkdir -p "$out/tree"/{bin,sbin,etc,proc,sys,dev,tmp,mnt,root,lib}

busybox=$(command -v busybox) || { echo "demo needs busybox-static" >&2; exit 1; }
cp "$busybox" "$out/tree/bin/busybox"
for a in sh cat echo ls mount umount sleep poweroff sync uname; do ln -s busybox "$out/tree/bin/$a"; done
ln -s ../bin/busybox "$out/tree/sbin/init"
printf 'PRETTY_NAME="coLinux NG demo (busybox)"\nNAME="coLinux NG demo"\nID=colinux-demo\n' > "$out/tree/etc/os-release"
printf '::sysinit:/bin/mount -t proc proc /proc\n::sysinit:/bin/echo "demo guest is up"\n::once:/bin/sleep 100000\n::ctrlaltdel:/bin/poweroff\n::shutdown:/bin/mount -o remount,ro /\n' > "$out/tree/etc/inittab"

truncate -s 256M "$out/disk.raw"
printf 'label: gpt\n%s14 : start=2048, size=6144, type=21686148-6449-6E6F-744E-656564454649\n%s15 : start=8192, size=16384, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n%s1 : start=24576, size=460800, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709\n' \
  "$out/disk.raw" "$out/disk.raw" "$out/disk.raw" | sfdisk -q "$out/disk.raw"
mke2fs -q -t ext4 -L demo-root -d "$out/tree" -E offset=$((24576*512)) "$out/disk.raw" $((460800 / 2))k
qemu-img convert -c -O qcow2 "$out/disk.raw" "$out/disk.qcow2"
rm -rf "$out/disk.raw" "$out/tree"

echo "== coimage info $out/disk.qcow2"
bin/coimage info "$out/disk.qcow2"
echo "== coimage convert $out/disk.qcow2 $out/root.img"
bin/coimage convert "$out/disk.qcow2" "$out/root.img"

# The demo uses the host's user-mode-linux kernel when installed, else the
# one corun fetches from the Debian archive.
kernel=()
if command -v linux.uml >/dev/null; then kernel=("kernel=$(command -v linux.uml)"); fi
echo "== corun run $out/root.img -- cat /etc/os-release"
bin/corun run "$out/root.img" "${kernel[@]}" -- cat /etc/os-release
echo "== corun run --detach --name demo $out/root.img"
bin/corun run --detach --name demo "$out/root.img" "${kernel[@]}"
sleep 3
bin/corun ls
echo "== corun stop demo"
bin/corun stop demo
e2fsck -fn "$out/root.img" >/dev/null && echo "e2fsck -fn $out/root.img: clean"
