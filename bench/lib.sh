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

# best_of N CMD...: runs CMD N times and prints the fastest wall time in seconds.
best_of() {
  local n=$1; shift
  local best="" t0 t1 dt
  for _ in $(seq "$n"); do
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || { echo "benchmark command failed: $*" >&2; return 1; }
    t1=$(date +%s.%N)
    dt=$(echo "$t1 - $t0" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$dt < $best" | bc -l)" = 1 ]; then best=$dt; fi
  done
  printf '%.3f\n' "$best"
}

ratio() { printf '%.3f\n' "$(echo "$1 / $2" | bc -l)"; }
