#!/usr/bin/env bash
# bench/boot.sh — corun against a bare User-mode Linux boot, side by side.
#
# Fixture: a 32 MiB ext4 image holding busybox-static. Prints:
#   wall time of `corun run test.img -- /bin/true` ÷ a bare
#   `linux.uml ubd0=test.img init=…` boot running the same /bin/true and
#   powering off (goal ≤ 1.15);
#   peak RSS (VmHWM) of the corun process itself, not the guest (goal ≤ 30 MiB).
# Both boot the same kernel: $KERNEL, by default the installed linux.uml.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export PATH="$PATH:/usr/sbin:/sbin"
KERNEL=${KERNEL:-$(command -v linux.uml || true)}
for tool in mke2fs busybox bc "$KERNEL"; do
  command -v "$tool" >/dev/null || { echo "bench/boot.sh needs $tool (user-mode-linux, busybox-static, e2fsprogs, bc)" >&2; exit 1; }
done
CORUN=${CORUN:-bin/corun}
[ -x "$CORUN" ] || go build -o "$CORUN" ./cmd/corun
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
echo "boot to /bin/true and power-off (best of $RUNS): corun ${to}s, bare linux.uml ${tb}s, ratio $(ratio "$to" "$tb") (goal ≤ 1.15)"

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
