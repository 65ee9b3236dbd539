#!/usr/bin/env bash
# bench/boot.sh — corun against a bare User-mode Linux boot, side by side.
#
# Fixture: a 32 MiB ext4 image holding busybox-static. Prints:
#   wall time of `corun run test.img -- /bin/true` ÷ a bare
#   `linux.uml ubd0=test.img init=…` boot running the same /bin/true and
#   powering off (goal ≤ 1.10, issue 12);
#   wall time of the same run confined (the default: Landlock, a mount
#   namespace, and as root an unprivileged uid) against
#   `corun run --unconfined` (goal: confinement costs ≤ 3 %);
#   peak RSS (VmHWM) of the corun process itself, not the guest (goal ≤ 30 MiB);
#   time of a systemd boot of recipes/debian.yaml to multi-user.target, the
#   untuned recipe (its uml-tuning blocks stripped, no extra kernel
#   arguments) against the tuned one booted with @recipes/debian.conf
#   (goal ≤ 0.35 × untuned);
#   with MONITORS=1 (the default), both monitors side by side on the same
#   image: the /bin/true boot, 200k syscalls (dd bs=1 count=200000, timed
#   inside the guest, against the host), and on QEMU a CPU-bound job of two
#   shell loops on cpus=2 against cpus=1 (SMP speedup; goal ≥ 1.6 on 2 host
#   cores). QEMU uses KVM where it works and says TCG otherwise; set
#   CORUN_QEMU_ACCEL=tcg where the KVM probe passes but Linux does not boot.
# The UML boots use $KERNEL, by default the installed linux.uml.
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
for a in sh true poweroff dd time; do ln -s busybox "$work/tree/bin/$a"; done
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
unconfined() { "$CORUN" run --unconfined "$img" kernel="$KERNEL" -- /bin/true; }

ours >/dev/null # warm the initramfs cache
t_ours=() t_bare=() t_unconf=()
for _ in $(seq "$RUNS"); do # interleaved, so host load hits all alike
  t_ours+=("$(best_of 1 ours)")
  t_bare+=("$(best_of 1 bare)")
  t_unconf+=("$(best_of 1 unconfined)")
done
min() { printf '%s\n' "$@" | sort -n | head -1; }
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
# paired A B: the median of the ratios of the runs made side by side,
# steadier than either best when the load drifts.
paired() {
  local -n a=$1 b=$2
  local r=() i
  for i in "${!a[@]}"; do r+=("$(ratio "${a[$i]}" "${b[$i]}")"); done
  median "${r[@]}"
}
to=$(min "${t_ours[@]}") tb=$(min "${t_bare[@]}") tu=$(min "${t_unconf[@]}")
echo "boot to /bin/true and power-off (best of $RUNS): corun ${to}s, bare linux.uml ${tb}s, ratio $(ratio "$to" "$tb") (goal ≤ 1.10)"
echo "confinement (best of $RUNS): confined ${to}s, --unconfined ${tu}s, ratio $(ratio "$to" "$tu") (goal ≤ 1.03)"
echo "  medians: corun $(median "${t_ours[@]}")s, bare $(median "${t_bare[@]}")s, --unconfined $(median "${t_unconf[@]}")s;" \
  "median of paired ratios: corun ÷ bare $(paired t_ours t_bare), confined ÷ unconfined $(paired t_ours t_unconf)"
echo "  all runs: corun ${t_ours[*]}; bare ${t_bare[*]}; --unconfined ${t_unconf[*]}; $(uptime | sed 's/.*load/load/')"

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

# Both monitors on the same image.
if [ "${MONITORS:-1}" = 1 ] && command -v qemu-system-x86_64 >/dev/null; then
  uptime
  qemu_true() { "$CORUN" run --monitor qemu "$img" -- /bin/true; }
  accel=KVM # the warm-up run fetches the cloud kernel and says if it emulates
  qemu_true 2>&1 >/dev/null | grep -q TCG && accel=TCG
  tq=$(best_of 3 qemu_true) tu=$(best_of 3 ours)
  echo "boot to /bin/true (best of 3): uml ${tu}s, qemu ${tq}s ($accel)"
  # guest_real MONITOR SETTINGS... -- CMD: the "real" seconds of busybox time -p inside the guest.
  guest_real() {
    local mon=$1; shift
    "$CORUN" run --monitor "$mon" "$img" "$@" 2>/dev/null | awk '/^real/ {print $2}'
  }
  dd_cmd=(time -p dd if=/dev/zero of=/dev/null bs=1 count=200000)
  host_dd=$( { /usr/bin/time -p dd if=/dev/zero of=/dev/null bs=1 count=200000 2>&1 >/dev/null; } | awk '/^real/ {print $2}')
  uml_dd=$(guest_real uml kernel="$KERNEL" -- "${dd_cmd[@]}")
  qemu_dd=$(guest_real qemu -- "${dd_cmd[@]}")
  echo "200k syscalls (dd bs=1 count=200000): host ${host_dd}s, uml ${uml_dd}s (×$(ratio "$uml_dd" "$host_dd")), qemu ${qemu_dd}s (×$(ratio "$qemu_dd" "$host_dd"))"
  loops='l(){ i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; }; l & l & wait'
  smp1=$(guest_real qemu cpus=1 -- time -p sh -c "$loops")
  smp2=$(guest_real qemu cpus=2 -- time -p sh -c "$loops")
  echo "two CPU-bound loops under qemu: cpus=1 ${smp1}s, cpus=2 ${smp2}s, SMP speedup $(ratio "$smp1" "$smp2") (goal ≥ 1.6)"
  uptime
fi

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
