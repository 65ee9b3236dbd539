#!/usr/bin/env bash
# bench/release.sh — the release pipeline against the zstd and curl tools,
# side by side in one run, on the image built from recipes/debian.yaml
# (cached in bench/work/release; the build needs root). Prints:
#   compression: coimage release (all of it: frames, hashes, index,
#   signatures) ÷ `zstd -19 -T2` of the same image, in time (goal ≤ 1.0)
#   and size (goal ≤ 1.02);
#   pull: coimage pull over HTTP from 127.0.0.1 (index and signature,
#   every hash, output sparse and fsynced) ÷ `curl -s URL | zstd -dc >
#   file` (goal ≤ 1.0); the ratio against the pipe followed by `sync
#   file` (equal durability) is printed beside it;
#   pull peak RSS (goal ≤ 64 MiB).
# CPU times (user + system, children included) are printed beside the wall
# times: on a machine shared with other jobs they are the steadier ratio.
# Times are medians of RUNS runs (default 5) for pull and of CRUNS runs
# (default 1: zstd -19 takes minutes) for compression, each after a sync.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export PATH="$PATH:/usr/sbin:/sbin"
for tool in zstd curl busybox bc /usr/bin/time; do
  command -v $tool >/dev/null || { echo "bench/release.sh needs $tool" >&2; exit 1; }
done
COIMAGE=${COIMAGE:-bin/coimage}
RUNS=${RUNS:-5}
CRUNS=${CRUNS:-1}
work=$PWD/bench/work/release
mkdir -p "$work"

if ! ls "$work"/image/*.img >/dev/null 2>&1; then
  echo "building recipes/debian.yaml (once)…" >&2
  rm -rf "$work/image"
  "$COIMAGE" build --output "$work/image" recipes/debian.yaml >&2
fi
img=$(ls "$work"/image/*.img)
name=$(basename "$img" .img)
[ -e "$work/key.key" ] || "$COIMAGE" keygen "$work/key" >/dev/null

# cpu_of FILE CMD...: runs CMD, appending its CPU seconds (user + system)
# to FILE; median_cpu FILE prints their median. On a machine shared with
# other jobs the CPU ratio is the steadier one.
cpu_of() { local f=$1; shift; /usr/bin/time -f '%U %S' -a -o "$f" "$@"; }
median_cpu() { awk '{print $1 + $2}' "$1" | sort -g | sed -n "$(( ($(wc -l < "$1") + 1) / 2 ))p"; }
rm -f "$work"/cpu.*
ours_compress() { rm -rf "$work/dist"; cpu_of "$work/cpu.ours" "$COIMAGE" release --key "$work/key.key" --out "$work/dist" "$img"; }
ref_compress() { cpu_of "$work/cpu.ref" zstd -19 -T2 -q -f "$img" -o "$work/ref.zst"; }
t_ours=$(median_of "$CRUNS" ours_compress)
t_ref=$(median_of "$CRUNS" ref_compress)
blob=$(ls "$work"/dist/images/"$name"/*/"$name".img.zst)
s_ours=$(stat -c %s "$blob")
s_ref=$(stat -c %s "$work/ref.zst")
c_ours=$(median_cpu "$work/cpu.ours"); c_ref=$(median_cpu "$work/cpu.ref")
echo "compression: coimage release ${t_ours}s, zstd -19 -T2 ${t_ref}s: time ratio $(ratio "$t_ours" "$t_ref"); cpu ${c_ours}s vs ${c_ref}s: ratio $(ratio "$c_ours" "$c_ref"); size ${s_ours} vs ${s_ref} B: ratio $(ratio "$s_ours" "$s_ref")"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 18931)
busybox httpd -f -p "127.0.0.1:$port" -h "$work/dist" &
httpd=$!
trap 'kill $httpd 2>/dev/null' EXIT
sleep 0.5
url=http://127.0.0.1:$port
rel=${blob#"$work/dist/"}

ours_pull() { rm -rf "$work/cache"; cpu_of "$work/cpu.pull" "$COIMAGE" pull --cache "$work/cache" --index "$url/" --pubkey "$work/key.pub" "$name"; }
ref_pull() { rm -f "$work/ref.img"; cpu_of "$work/cpu.pipe" sh -c 'curl -s "$1" | zstd -dc > "$2"' - "$url/$rel" "$work/ref.img"; }
ref_pull_sync() { ref_pull && sync "$work/ref.img"; }
t_ours=$(median_of "$RUNS" ours_pull)
t_ref=$(median_of "$RUNS" ref_pull)
t_sync=$(median_of "$RUNS" ref_pull_sync)
cmp "$work"/cache/images/"$name"/*.img "$work/ref.img" || { echo "pulled image differs from zstd's" >&2; exit 1; }
c_ours=$(median_cpu "$work/cpu.pull"); c_ref=$(median_cpu "$work/cpu.pipe")
echo "pull: coimage pull ${t_ours}s, curl | zstd -dc ${t_ref}s: ratio $(ratio "$t_ours" "$t_ref"); with sync ${t_sync}s: ratio $(ratio "$t_ours" "$t_sync"); cpu ${c_ours}s vs ${c_ref}s: ratio $(ratio "$c_ours" "$c_ref")"

rss=$( { rm -rf "$work/cache"; /usr/bin/time -f %M "$COIMAGE" pull --cache "$work/cache" --index "$url/" --pubkey "$work/key.pub" "$name" >/dev/null; } 2>&1 | tail -n 1)
echo "pull peak RSS: $((rss / 1024)) MiB (goal ≤ 64)"
alloc=$(( $(stat -c %b "$work"/cache/images/"$name"/*.img) * 512 ))
echo "pulled image: $(stat -c %s "$img") B, $alloc B allocated"
rm -rf "$work/cache" "$work/ref.img" "$work/ref.zst"
