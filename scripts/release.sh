#!/usr/bin/env bash
# make release — the release pipeline end to end for a recipe (default
# recipes/debian.yaml) into dist/:
#  1. coimage build (needs root; the Debian mirror comes from the host's apt
#     sources, or $COIMAGE_DEBIAN_MIRROR);
#  2. coimage release: zstd frames, SHA256SUMS, index.json, all signed with
#     the key $RELEASE_KEY.key (default ~/.config/colinux/release.key, made
#     with coimage keygen on first use: keep it, users trust its .pub);
#     earlier serials in dist/ are kept, the newest $KEEP (default 3);
#  3. verification with the stock tools: minisign -V on both signed files,
#     sha256sum -c, zstd -d gives the built image; then coimage pull from
#     dist/ over file:// gives it too.
# Publish dist/ on any static web server (see the README).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"
RECIPE=${RECIPE:-recipes/debian.yaml}
DIST=${DIST:-dist}
KEEP=${KEEP:-3}
KEY=${RELEASE_KEY:-${XDG_CONFIG_HOME:-$HOME/.config}/colinux/release}
if [ "$(id -u)" != 0 ]; then
  echo "make release builds $RECIPE with coimage build, which needs root: run it as root" >&2
  exit 1
fi
for tool in minisign sha256sum zstd cmp; do
  command -v "$tool" >/dev/null || { echo "make release verifies with $tool: run scripts/deps.sh" >&2; exit 1; }
done
work=out/release
rm -rf "$work" && mkdir -p "$work" "$DIST" "$(dirname "$KEY")"

if [ ! -e "$KEY.key" ]; then
  echo "== coimage keygen $KEY (first release: a new signing key)"
  bin/coimage keygen "$KEY"
fi

echo "== coimage build --output $work $RECIPE"
bin/coimage build --output "$work" "$RECIPE"
img=$(ls "$work"/*.img)
name=$(basename "$img" .img)

echo "== coimage release --key $KEY.key --out $DIST --keep $KEEP $img"
bin/coimage release --key "$KEY.key" --out "$DIST" --keep "$KEEP" "$img"

echo "== verify $DIST with minisign, sha256sum and zstd"
minisign -V -q -m "$DIST/index.json" -p "$KEY.pub"
minisign -V -q -m "$DIST/SHA256SUMS" -p "$KEY.pub"
(cd "$DIST" && sha256sum -c --quiet --strict SHA256SUMS)
newest=$(ls -d "$DIST/images/$name"/*/ | sort | tail -n 1)
zstd -q -d -c "$newest$name.img.zst" | cmp - "$img"
echo "minisign, sha256sum -c and zstd -d agree: $newest$name.img.zst is $img"

echo "== coimage pull --index file://$PWD/$DIST/ --output $work/pulled.img $name"
bin/coimage pull --index "file://$PWD/$DIST/" --pubkey "$KEY.pub" --output "$work/pulled.img" "$name"
cmp "$work/pulled.img" "$img"
rm -f "$work/pulled.img"
echo "released $name into $DIST/, signed by $KEY.pub:"
cat "$KEY.pub"
