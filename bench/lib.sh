# Shared helpers for the side-by-side benchmarks in bench/.

# debian_mirror prints the Debian mirror: $COIMAGE_DEBIAN_MIRROR, else the
# first main-archive URI of the host's apt sources.
debian_mirror() {
  if [ -n "${COIMAGE_DEBIAN_MIRROR:-}" ]; then echo "$COIMAGE_DEBIAN_MIRROR"; return; fi
  local uri
  uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null)
  [ -n "$uri" ] || uri=$(awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list 2>/dev/null)
  [ -n "$uri" ] || { echo "no Debian mirror in the host's apt sources; set COIMAGE_DEBIAN_MIRROR" >&2; return 1; }
  echo "$uri"
}

# time_runs N CMD...: runs CMD N times and prints each wall time in seconds,
# sorted. A `sync` before each run (not timed) keeps one run's dirty pages
# from being flushed on the next run's clock.
time_runs() {
  local n=$1; shift
  local t0 t1 err
  err=$(mktemp)
  for _ in $(seq "$n"); do
    sync
    t0=$(date +%s.%N)
    # What a failed run said is shown; a successful run's is dropped.
    "$@" >/dev/null 2>"$err" || { echo "benchmark command failed: $*" >&2; tail -n 20 "$err" >&2; return 1; }
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
  done | sort -g
  local rc=${PIPESTATUS[0]}
  rm -f "$err"
  return "$rc"
}

# best_of N CMD...: the fastest of N runs.
best_of() { local t; t=$(time_runs "$@") || return 1; printf '%.3f\n' "$(echo "$t" | head -n 1)"; }

# median_of N CMD...: the median of N runs, steadier than the best on a busy machine.
median_of() {
  local t; t=$(time_runs "$@") || return 1
  printf '%.3f\n' "$(echo "$t" | sed -n "$(( ($1 + 1) / 2 ))p")"
}

ratio() { printf '%.3f\n' "$(echo "$1 / $2" | bc -l)"; }
