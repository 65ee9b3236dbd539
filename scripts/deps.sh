#!/usr/bin/env bash
# scripts/deps.sh — installs what `make demo` and `make test` need on a
# Debian or Ubuntu host, the one list shared by the Makefile and CI.
#
#   scripts/deps.sh            install what is missing (apt-get; needs root)
#   scripts/deps.sh --check    only say what is missing; exit 1 if anything is
#
# Run as an ordinary user, it prints the exact `apt-get install` line and
# stops. On hosts without apt-get it names the missing programs.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

# One line per need: "command-or-dpkg:NAME  Debian package". A "dpkg:" entry
# is checked as an installed package (for files that are not commands).
# Keep each area's lines together; add new ones under the area that needs them.
needs=(
  # disks and filesystems (coimage convert/info/export, tests compare with these)
  "qemu-img qemu-utils"
  "sfdisk fdisk"
  "mke2fs e2fsprogs"
  "xz xz-utils"
  "mkfs.xfs xfsprogs"
  "mkfs.btrfs btrfs-progs"
  "blkid util-linux"
  # disk formats in and out (coimage convert/export tests): qemu-io writes the
  # test images, debugfs damages ext4 images on purpose, tar and bsdtar unpack
  # exports, podman imports the tar export as an image, libyal's readers (their
  # Python bindings) read the VHDX and VMDK exports as a second opinion to qemu's
  "qemu-io qemu-utils"
  "debugfs e2fsprogs"
  "e2fsck e2fsprogs"
  "tar tar"
  "bsdtar libarchive-tools"
  "podman podman"
  "dpkg:python3-libvhdi python3-libvhdi"
  "dpkg:python3-libvmdk python3-libvmdk"
  # corun: the User-mode Linux monitor and the guest's tools
  "linux.uml user-mode-linux"
  "dpkg:busybox-static busybox-static"
  "bc bc"
  "ip iproute2"
  # corun --x11: a private X server, its cookie tool, real X clients and the
  # screenshot (xwd; the tests decode its output themselves)
  "Xvfb xvfb"
  "xauth xauth"
  "xdpyinfo x11-utils"
  "xprop x11-utils"
  "xwd x11-apps"
  # coimage build, Fedora: the host's rpm reads and checks the fixture
  # packages the tests write (rpm -qp, rpm -K), as a second opinion on pkg/rpm
  "rpm rpm"
  # corun's QEMU monitor; binutils makes kernel-module fixtures (runtime/kmod tests)
  "qemu-system-x86_64 qemu-system-x86"
  "objcopy binutils"
  "as binutils"
  # release: coimage release/pull tests check our files with the stock tools
  # and push to / pull from a real registry
  "minisign minisign"
  "zstd zstd"
  "docker-registry docker-registry"
  "skopeo skopeo"
  "curl curl"
  # build: coimage release compresses with libzstd, built in through cgo
  # (without a C compiler the build falls back to a pure-Go encoder)
  "gcc gcc"
  # build: coimage inflates qcow2 zlib clusters and vmdk grains with
  # libdeflate through cgo (-tags purego or CGO_ENABLED=0 build without it)
  "dpkg:libdeflate-dev libdeflate-dev"
  # coimage build: rootless builds map ids through these (tests build as a
  # user they create); bench/build.sh measures against mmdebstrap
  "newuidmap uidmap"
  "newgidmap uidmap"
  "setpriv util-linux"
  "useradd passwd"
  "mmdebstrap mmdebstrap"
)

missing_pkgs=()
missing_what=()
for entry in "${needs[@]}"; do
  what=${entry%% *}
  pkg=${entry##* }
  case $what in
    dpkg:*) dpkg -s "${what#dpkg:}" >/dev/null 2>&1 && continue ;;
    *) command -v "$what" >/dev/null 2>&1 && continue ;;
  esac
  missing_what+=("$what")
  [[ " ${missing_pkgs[*]} " == *" $pkg "* ]] || missing_pkgs+=("$pkg")
done

if [ ${#missing_pkgs[@]} -eq 0 ]; then
  exit 0
fi
if [ "${1:-}" = --check ]; then
  echo "missing: ${missing_what[*]} (Debian packages: ${missing_pkgs[*]})" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "deps.sh: this host has no apt-get; install these programs yourself: ${missing_what[*]}" >&2
  echo "(Debian package names: ${missing_pkgs[*]})" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "deps.sh: missing ${missing_what[*]}; install them as root with:" >&2
  echo "  sudo apt-get install -y ${missing_pkgs[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing_pkgs[@]}"
