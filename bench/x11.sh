#!/usr/bin/env bash
# bench/x11.sh — X round trips from a corun --x11 guest against the same
# client on the host, side by side.
#
# Fixture: a private Xvfb with a cookie (xauth), and a 32 MiB ext4 image
# holding busybox-static and xclient (driver/x11/x11test/xclient, a static
# pure-Go X client). Prints the time of one GetInputFocus round trip
# (median of $RUNS runs of $N requests each):
#   on the host, through Xvfb's unix socket;
#   in the guest, through conet's gateway, corun's forwarder and the same
#   socket (UML; the guest boot is not timed, xclient times itself);
# and the ratio guest ÷ host; with MONITORS=1 (the default) and QEMU
# installed, the same guest under --monitor qemu too (CORUN_QEMU_ACCEL=tcg
# where /dev/kvm is there but cannot run Linux). Reports the load beside
# the numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export PATH="$PATH:/usr/sbin:/sbin"
KERNEL=${KERNEL:-$(command -v linux.uml || true)}
for tool in mke2fs busybox Xvfb xauth "$KERNEL"; do
  command -v "$tool" >/dev/null || { echo "bench/x11.sh needs $tool (user-mode-linux, busybox-static, e2fsprogs, xvfb, xauth)" >&2; exit 1; }
done
CORUN=${CORUN:-bin/corun}
[ -x "$CORUN" ] || { go generate ./runtime/initramfs && go build -o "$CORUN" ./cmd/corun; }
RUNS=${RUNS:-5}
N=${N:-1000}
work=bench/work/x11
rm -rf "$work" && mkdir -p "$work/tree"/{bin,sbin,proc,sys,dev,tmp,etc,run}
CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$work/tree/bin/xclient" ./driver/x11/x11test/xclient
cp "$(command -v busybox)" "$work/tree/bin/busybox"
for a in sh true poweroff; do ln -s busybox "$work/tree/bin/$a"; done
truncate -s 32M "$work/test.img"
mke2fs -q -F -t ext4 -d "$work/tree" "$work/test.img"
export XDG_RUNTIME_DIR=$PWD/$work/run

export XAUTHORITY=$PWD/$work/Xauthority
cookie=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
xauth -q -f "$work/server.auth" add :0 MIT-MAGIC-COOKIE-1 "$cookie" 2>/dev/null
mkfifo "$work/displayfd"
Xvfb -displayfd 3 -auth "$work/server.auth" -nolisten tcp -screen 0 320x240x24 3>"$work/displayfd" >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null' EXIT
read -r num < "$work/displayfd"
export DISPLAY=:$num
xauth -q add "$DISPLAY" MIT-MAGIC-COOKIE-1 "$cookie" 2>/dev/null

# xclient prints "... in T, U µs each"; the median of RUNS runs.
us() { sed -n 's/.*, \([0-9.]*\) µs each.*/\1/p'; }
median() { sort -g | sed -n "$(( (RUNS + 1) / 2 ))p"; }
host=$(for _ in $(seq "$RUNS"); do "$work/tree/bin/xclient" rtt "$N" | us; done | median)
guest=$(for _ in $(seq "$RUNS"); do
  "$CORUN" run --x11 --snapshot "$work/test.img" kernel="$KERNEL" -- xclient rtt "$N" | us
done | median)
echo "load: $(uptime | sed 's/.*load average: //')"
echo "GetInputFocus round trip, median of $RUNS × $N: host ${host} µs, guest (uml, conet) ${guest} µs"
echo "ratio guest/host: $(ratio "$guest" "$host")"
# The same under QEMU (its cloud kernel, fetched on first use; TCG without /dev/kvm).
if [ "${MONITORS:-1}" = 1 ] && command -v qemu-system-x86_64 >/dev/null; then
  qemu=$(for _ in $(seq "$RUNS"); do
    "$CORUN" run --monitor qemu --x11 --snapshot "$work/test.img" -- xclient rtt "$N" | us
  done | median)
  [ -n "$qemu" ] || { echo "bench/x11.sh: the qemu guest failed" >&2; exit 1; }
  echo "qemu guest ${qemu} µs, ratio guest/host: $(ratio "$qemu" "$host")"
fi
