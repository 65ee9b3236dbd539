#!/usr/bin/env bash
# bench/boot.sh — corun against a bare User-mode Linux boot, side by side.
#
# Fixture: a 32 MiB ext4 image holding busybox-static. Prints:
#   wall time of `corun run test.img -- /bin/true` ÷ a bare
#   `linux.uml ubd0=test.img init=…` boot running the same /bin/true and
#   powering off (goal ≤ 1.10, issue 12);
#   peak RSS (VmHWM) of the corun process itself, not the guest (goal ≤ 30 MiB);
#   time of a systemd boot of recipes/debian.yaml to multi-user.target, the
#   untuned recipe (its uml-tuning blocks stripped, no extra kernel
#   arguments) against the tuned one booted with @recipes/debian.conf
#   (goal ≤ 0.35 × untuned).
# All boot the same kernel: $KERNEL, by default the installed linux.uml.
#
# The systemd part builds both images with `coimage build`, which NEEDS ROOT
# (it chroots) and a Debian mirror (the host's apt sources, or
# $COIMAGE_DEBIAN_MIRROR); as another user the script stops at once unless
# SYSTEMD_BOOT=0 skips that part. How it measures: the clock starts just
# before `corun run --detach` and stops when the console log shows systemd's
# "Reached target multi-user.target" (both variants boot with
# systemd.show_status=1 so that the line is printed); best of $SYSTEMD_RUNS
# runs, interleaved. Every boot uses --snapshot, so each is the image's
# first boot, as for a freshly built or pulled image.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export PATH="$PATH:/usr/sbin:/sbin"
KERNEL=${KERNEL:-$(command -v linux.uml || true)}
SYSTEMD_BOOT=${SYSTEMD_BOOT:-1}
if [ "$SYSTEMD_BOOT" = 1 ] && [ "$(id -u)" != 0 ]; then
  echo "bench/boot.sh: the systemd boot benchmark builds images with coimage build, which needs root; run it as root, or with SYSTEMD_BOOT=0 to skip that part" >&2
  exit 1
fi
for tool in mke2fs busybox bc "$KERNEL"; do
  command -v "$tool" >/dev/null || { echo "bench/boot.sh needs $tool (user-mode-linux, busybox-static, e2fsprogs, bc)" >&2; exit 1; }
done
CORUN=${CORUN:-bin/corun}
[ -x "$CORUN" ] || go build -o "$CORUN" ./cmd/corun
COIMAGE=${COIMAGE:-bin/coimage}
[ -x "$COIMAGE" ] || go build -o "$COIMAGE" ./cmd/coimage
RUNS=${RUNS:-5}
work=bench/work/boot
rm -rf "$work" && mkdir -p "$work/tree"/{bin,sbin,proc,sys,dev,tmp,etc}
cp "$(command -v busybox)" "$work/tree/bin/busybox"
for a in sh true poweroff; do ln -s busybox "$work/tree/bin/$a"; done
printf '#!/bin/sh\n/bin/true\nexec /bin/poweroff -f\n' > "$work/tree/sbin/bench-init"
chmod +x "$work/tree/sbin/bench-init"
truncate -s 32M "$work/test.img"
mke2fs -q -F -t ext4 -d "$work/tree" "$work/test.img"
img=$work/test.img
# Instances of this run stay in the work directory.
export XDG_RUNTIME_DIR=$PWD/$work/run

bare() {
  "$KERNEL" mem=256M ubd0="$img" root=/dev/ubda init=/sbin/bench-init \
    con=null ssl=null con0=null,fd:1 quiet loglevel=3 noreboot umid=bench-bare uml_dir="$work"
}
ours() { "$CORUN" run "$img" kernel="$KERNEL" -- /bin/true; }

ours >/dev/null # warm the initramfs cache
t_ours=() t_bare=()
for _ in $(seq "$RUNS"); do # interleaved, so host load hits both alike
  t_ours+=("$(best_of 1 ours)")
  t_bare+=("$(best_of 1 bare)")
done
min() { printf '%s\n' "$@" | sort -n | head -1; }
to=$(min "${t_ours[@]}") tb=$(min "${t_bare[@]}")
echo "boot to /bin/true and power-off (best of $RUNS): corun ${to}s, bare linux.uml ${tb}s, ratio $(ratio "$to" "$tb") (goal ≤ 1.10)"

# Peak RSS of corun itself, polled from /proc while it runs.
"$CORUN" run "$img" kernel="$KERNEL" -- /bin/true >/dev/null &
pid=$! hwm=0
while kill -0 "$pid" 2>/dev/null; do
  v=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  [ -n "$v" ] && [ "$v" -gt "$hwm" ] && hwm=$v
  sleep 0.02
done
wait "$pid"
echo "corun peak RSS: $(printf '%.1f' "$(echo "$hwm / 1024" | bc -l)") MiB, ratio to the 30 MiB goal $(ratio "$hwm" $((30 * 1024)))"

[ "$SYSTEMD_BOOT" = 1 ] || exit 0

# Systemd boot of the Debian image, untuned against tuned.
SYSTEMD_RUNS=${SYSTEMD_RUNS:-3}
deb=$work/debian
mkdir -p "$deb"
awk '/uml-tuning:begin/ {skip = 1} !skip {print} /uml-tuning:end/ {skip = 0}' recipes/debian.yaml > "$deb/untuned.yaml"
for v in untuned tuned; do
  recipe=$deb/untuned.yaml
  [ "$v" = tuned ] && recipe=recipes/debian.yaml
  "$COIMAGE" build --output "$deb/$v" "$recipe" >/dev/null
done

# to_multi_user VARIANT SETTINGS…: boots the variant's image detached and
# prints the seconds from corun's start to multi-user.target.
to_multi_user() {
  local v=$1; shift
  local log=$deb/$v.log t0 line t=""
  rm -f "$log"
  t0=$EPOCHREALTIME
  "$CORUN" run --detach --name "bench-$v" --log "$log" --snapshot "$deb/$v/debian-13.img" \
    kernel="$KERNEL" "$@" systemd.show_status=1 >/dev/null
  local fd tailpid
  exec {fd}< <(exec timeout 120 tail -n +1 -f "$log")
  tailpid=$!
  while IFS= read -r -u "$fd" line; do
    if [[ $line == *"Reached target"*multi-user.target* ]]; then
      t=$(echo "$EPOCHREALTIME - $t0" | bc -l)
      break
    fi
  done
  kill "$tailpid" 2>/dev/null || true
  exec {fd}<&-
  "$CORUN" stop "bench-$v" >/dev/null
  [ -n "$t" ] || { echo "$v: multi-user.target not reached within 120 s; console log: $log" >&2; return 1; }
  printf '%.3f\n' "$t"
}

t_untuned=() t_tuned=()
for _ in $(seq "$SYSTEMD_RUNS"); do
  t_untuned+=("$(to_multi_user untuned)")
  t_tuned+=("$(to_multi_user tuned @recipes/debian.conf)")
done
tu=$(min "${t_untuned[@]}") tt=$(min "${t_tuned[@]}")
echo "systemd boot of recipes/debian.yaml to multi-user.target (best of $SYSTEMD_RUNS; all: untuned ${t_untuned[*]}, tuned ${t_tuned[*]}):"
echo "  untuned ${tu}s, tuned ${tt}s, ratio $(ratio "$tt" "$tu") (goal ≤ 0.35)"
