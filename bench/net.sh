#!/usr/bin/env bash
# bench/net.sh — guest → host TCP throughput: corun's user-mode NAT against
# a TAP device, side by side.
#
# Fixture: a 32 MiB ext4 image holding busybox-static. In the guest,
# `dd` of $MIB MiB from /dev/zero is piped into busybox nc and timed by
# the guest's `time -p`; on the host a busybox nc listener swallows it.
# Same image, kernel, tool and amount for both paths:
#   NAT: eth0=slirp, sending to the gateway 10.0.2.2, which is the host's 127.0.0.1;
#   TAP: eth0=tuntap on a TAP device holding 10.77.0.1/24.
# Everything runs in a network namespace of its own, so no packet leaves
# it; the TAP device needs root. Prints both (best of $RUNS), NAT ÷ TAP
# (goal ≥ 0.5), and for scale the guest's pipe throughput (dd | cat):
# when both paths sit far below it and close together, the guest's own
# network path (UML's vector driver and TCP stack) is what limits them.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export PATH="$PATH:/usr/sbin:/sbin"
if [ "${CONET_BENCH_NETNS:-}" != 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "bench/net.sh needs root: the TAP side creates a device" >&2; exit 1; }
  CONET_BENCH_NETNS=1 exec unshare -n bash "$0" "$@"
fi
KERNEL=${KERNEL:-$(command -v linux.uml || true)}
for tool in mke2fs busybox bc ip "$KERNEL"; do
  command -v "$tool" >/dev/null || { echo "bench/net.sh needs $tool (user-mode-linux, busybox-static, e2fsprogs, bc, iproute2)" >&2; exit 1; }
done
CORUN=${CORUN:-bin/corun}
[ -x "$CORUN" ] || go build -o "$CORUN" ./cmd/corun
RUNS=${RUNS:-3} MIB=${MIB:-64}
work=bench/work/net
rm -rf "$work" && mkdir -p "$work/tree"/{bin,sbin,proc,sys,dev,tmp,etc}
cp "$(command -v busybox)" "$work/tree/bin/busybox"
for a in sh dd nc cat time ifconfig; do ln -s busybox "$work/tree/bin/$a"; done
truncate -s 32M "$work/test.img"
mke2fs -q -F -t ext4 -d "$work/tree" "$work/test.img"
img=$work/test.img
export XDG_RUNTIME_DIR=$PWD/$work/run

ip link set lo up
ip tuntap add dev cobench0 mode tap
ip addr add 10.77.0.1/24 dev cobench0
ip link set cobench0 up

port=18790
send="dd if=/dev/zero bs=64k count=$((MIB * 16)) 2>/dev/null"

# listen starts a host receiver on $port that swallows one connection.
listen() { busybox nc -l -p "$port" -e busybox dd of=/dev/null bs=64k >/dev/null 2>&1 & }

# guest_seconds NET SETUP DEST: boots with NET, runs SETUP and sends $MIB
# MiB to DEST:$port, where a host listener waits; prints the guest's time.
guest_seconds() {
  local out
  out=$("$CORUN" run "$img" kernel="$KERNEL" "$1" -- sh -c "$2 time -p sh -c '$send | nc $3 $port'" 2>&1)
  awk '$1 == "real" {print $2}' <<<"$out" | grep . || { echo "transfer failed ($1):" >&2; echo "$out" >&2; return 1; }
}
mibps() { printf '%.1f\n' "$(echo "$MIB / $1" | bc -l)"; }
min() { printf '%s\n' "$@" | sort -n | head -1; }

t_nat=() t_tap=()
for _ in $(seq "$RUNS"); do # interleaved, so host load hits both alike
  listen; t_nat+=("$(guest_seconds eth0=slirp "" 10.0.2.2)")
  listen; t_tap+=("$(guest_seconds eth0=tuntap,cobench0 "ifconfig eth0 10.77.0.2 netmask 255.255.255.0 up;" 10.77.0.1)")
done
nat=$(mibps "$(min "${t_nat[@]}")") tap=$(mibps "$(min "${t_tap[@]}")")
pipe=$("$CORUN" run "$img" kernel="$KERNEL" -- sh -c "time -p sh -c '$send | cat >/dev/null'" 2>&1 | awk '$1 == "real" {print $2}')
echo "guest → host TCP, $MIB MiB (best of $RUNS): user-mode NAT $nat MiB/s, TAP $tap MiB/s, ratio $(ratio "$nat" "$tap") (goal ≥ 0.5)"
echo "for scale, the guest's pipe (dd | cat): $(mibps "$pipe") MiB/s"
