#!/usr/bin/env bash
# bench/build.sh — coimage build against mmdebstrap + mke2fs, side by side in one run.
#
# Both sides make an ext4 image of Debian 13 (trixie) minbase from the mirror of the
# host's apt sources, with their scratch trees on the same filesystem ($BENCH_TMP,
# default /dev/shm, where coimage puts its tree by default). Equal package sets:
# mmdebstrap gets --include=usr-is-merged, which coimage picks (apt would pick usrmerge,
# which pulls perl).
#
#   coimage:   coimage build minbase.yaml → minbase.img (resolve, verify, unpack,
#              configure, customize, normalize, mke2fs -d, debugfs, SHA256, fsync).
#   reference: mmdebstrap --variant=minbase trixie → rootfs.tar, timed; then the
#              tree is unpacked (not timed) and mke2fs -t ext4 -d TREE, timed.
#
# Caches:
#   cold: coimage gets an empty --cache directory, so it downloads InRelease,
#         Packages.gz and every .deb. mmdebstrap has no cache of its own
#         between runs: it downloads indices and every .deb.
#   warm: coimage keeps its cache: verified .debs, the verified decompressed
#         Packages file (InRelease is always fetched and checked) and the
#         configured base tree, restored when the resolved packages match (also
#         shown without it, --no-base-cache, for comparison). mmdebstrap gets
#         its .debs from a directory through the hooks its manual documents
#         (sync-in to /var/cache/apt/archives before, sync-out after,
#         --skip=download/empty); apt still downloads InRelease and Packages.xz.
#
# Rootless: the same warm build (--no-base-cache, so all the install work is timed) as
# root and as $BENCH_USER (default coimage-rootless, made with subordinate ids if
# missing) through coimage's user namespace; the images must be identical.
#
# Prints the fastest run of each side, the ratios (goals: cold ≤ 0.5, warm ≤ 0.15,
# rootless ÷ root ≤ 1.1), the load average and both image sizes. Runs as root
# (coimage build and mmdebstrap's root mode).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export PATH="$PATH:/usr/sbin:/sbin"
for tool in mmdebstrap mke2fs bc setpriv newuidmap; do
  command -v $tool >/dev/null || { echo "bench/build.sh needs $tool" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench/build.sh runs as root" >&2; exit 1; }
COIMAGE=${COIMAGE:-bin/coimage}
[ -x "$COIMAGE" ] || go build -o "$COIMAGE" ./cmd/coimage
RUNS=${RUNS:-3}           # warm runs per side
COLD_RUNS=${COLD_RUNS:-1} # cold runs per side (each downloads everything)
BENCH_TMP=${BENCH_TMP:-/dev/shm}
SUITE=trixie
BENCH_USER=${BENCH_USER:-coimage-rootless}
mirror=$(debian_mirror)
work=$(mktemp -d "$BENCH_TMP/coimage-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
mkdir -p "$work/out" "$work/debs"
RECIPE=$work/minbase.yaml
printf 'image:\n  name: minbase\n  distribution: debian\n  release: %s\n' "$SUITE" >"$RECIPE"
export SOURCE_DATE_EPOCH=1700000000

coimage_cold() { rm -rf "$work/cc"; "$COIMAGE" build --workdir "$work" --mirror "$mirror" --cache "$work/cc" --output "$work/out" "$RECIPE"; }
coimage_warm() { "$COIMAGE" build --workdir "$work" --mirror "$mirror" --cache "$work/wc" --output "$work/out" "$@" "$RECIPE"; }
coimage_nobase() { coimage_warm --no-base-cache; }
mmdebstrap_cold() { rm -f "$work/rootfs.tar"; TMPDIR=$work mmdebstrap --quiet --variant=minbase --include=usr-is-merged "$SUITE" "$work/rootfs.tar" "$mirror"; }
mmdebstrap_warm() {
  rm -f "$work/rootfs.tar"
  TMPDIR=$work mmdebstrap --quiet --variant=minbase --include=usr-is-merged --skip=download/empty --skip=essential/unlink \
    --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
    --setup-hook="sync-in $work/debs /var/cache/apt/archives/" \
    --customize-hook="sync-out /var/cache/apt/archives $work/debs" \
    "$SUITE" "$work/rootfs.tar" "$mirror"
}
# The rootless side: its own cache (a copy of the warm one) and output.
rootless_setup() {
  if ! id "$BENCH_USER" >/dev/null 2>&1; then
    useradd --user-group --no-create-home --shell /usr/sbin/nologin "$BENCH_USER"
  fi
  grep -q "^$BENCH_USER:" /etc/subuid || usermod --add-subuids 1200000-1265535 --add-subgids 1200000-1265535 "$BENCH_USER"
  mkdir -p "$work/rl" && cp -a "$work/wc" "$work/rl/cache" && mkdir -p "$work/rl/out" "$work/rl/bin"
  cp "$COIMAGE" "$work/rl/bin/coimage" && chown -R "$BENCH_USER:" "$work/rl"
}
coimage_rootless() {
  setpriv --reuid="$BENCH_USER" --regid="$BENCH_USER" --init-groups -- env -i PATH="$PATH" HOME=/nonexistent \
    SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH "$work/rl/bin/coimage" build --no-base-cache --workdir "$work/rl" \
    --mirror "$mirror" --cache "$work/rl/cache" --output "$work/rl/out" "$RECIPE"
}
# reference_mke2fs unpacks the tarball (untimed) and times mke2fs -d alone,
# sizing the image like coimage: used space + 25%.
reference_mke2fs() {
  rm -rf "$work/tree" "$work/ref.img" && mkdir "$work/tree" && tar -C "$work/tree" -xf "$work/rootfs.tar"
  local kib; kib=$(du -sk "$work/tree" | cut -f1); kib=$(( kib * 125 / 100 + 65536 ))
  best_of 1 mke2fs -q -F -t ext4 -T default -d "$work/tree" "$work/ref.img" "${kib}k"
}

echo "mirror $mirror, scratch in $BENCH_TMP, SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH" >&2
echo "cold (empty caches), best of $COLD_RUNS…" >&2
c_cold=$(best_of "$COLD_RUNS" coimage_cold)
m_cold=$(best_of "$COLD_RUNS" mmdebstrap_cold)
k_cold=$(reference_mke2fs)
echo "warming caches…" >&2
coimage_warm >/dev/null 2>&1; mmdebstrap_warm >/dev/null 2>&1
echo "warm, best of $RUNS…" >&2
c_warm=$(best_of "$RUNS" coimage_warm)
c_nobase=$(best_of "$RUNS" coimage_nobase)
m_warm=$(best_of "$RUNS" mmdebstrap_warm)
k_warm=$(reference_mke2fs)

echo "rootless against root (warm, --no-base-cache), alternating, best of $RUNS…" >&2
rootless_setup
coimage_rootless >/dev/null 2>&1
# Alternating runs: on a shared machine the load drifts, so the two sides
# are measured in turns rather than one after the other.
r_root=() r_rootless=()
for _ in $(seq "$RUNS"); do
  r_root+=("$(best_of 1 coimage_nobase)")
  r_rootless+=("$(best_of 1 coimage_rootless)")
done
c_root=$(printf '%s\n' "${r_root[@]}" | sort -g | head -n 1)
c_rootless=$(printf '%s\n' "${r_rootless[@]}" | sort -g | head -n 1)
cmp "$work/out/minbase.img" "$work/rl/out/minbase.img" || { echo "the rootless image differs from the root build's" >&2; exit 1; }

ref_cold=$(echo "$m_cold + $k_cold" | bc -l)
ref_warm=$(echo "$m_warm + $k_warm" | bc -l)
printf '%-6s coimage %7.2fs   mmdebstrap %7.2fs + mke2fs -d %5.2fs = %7.2fs   ratio %s (goal ≤ 0.5)\n' \
  cold "$c_cold" "$m_cold" "$k_cold" "$ref_cold" "$(ratio "$c_cold" "$ref_cold")"
printf '%-6s coimage %7.2fs   mmdebstrap %7.2fs + mke2fs -d %5.2fs = %7.2fs   ratio %s (goal ≤ 0.15)\n' \
  warm "$c_warm" "$m_warm" "$k_warm" "$ref_warm" "$(ratio "$c_warm" "$ref_warm")"
printf '%-6s coimage %7.2fs   (warm without the base cache: --no-base-cache)     ratio %s\n' \
  warm "$c_nobase" "$(ratio "$c_nobase" "$ref_warm")"
printf '%-8s coimage %7.2fs as %s, %7.2fs as root (both warm, --no-base-cache)   ratio %s (goal ≤ 1.1)\n' \
  rootless "$c_rootless" "$BENCH_USER" "$c_root" "$(ratio "$c_rootless" "$c_root")"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
used() { dumpe2fs -h "$1" 2>/dev/null | awk -F: '/^Block count/{b=$2} /^Free blocks/{f=$2} /^Block size/{s=$2} END{printf "%.1f MiB used", (b-f)*s/1048576}'; }
echo "images: coimage minbase.img $(stat -c %s "$work/out/minbase.img") bytes ($(used "$work/out/minbase.img")), reference $(stat -c %s "$work/ref.img") bytes ($(used "$work/ref.img"))"
