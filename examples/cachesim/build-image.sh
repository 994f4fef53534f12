#!/usr/bin/env bash
# Build the example's image offline-friendly: a minimal Debian (bookworm) with valgrind,
# made by debootstrap from the machine's own Debian mirror and imported into the engine.
#
# debootstrap output is not bit-for-bit reproducible: every build gets a new image ID.
# That is why the manifest pins the ID (`repro lock` writes it) rather than trusting the tag.
set -euo pipefail
TAG="${1:-repro-example/cachesim:bookworm}"
if docker image inspect "$TAG" >/dev/null 2>&1; then
    echo "build-image: $TAG already exists ($(docker image inspect -f '{{.Id}}' "$TAG"))"
    exit 0
fi
MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
ROOTFS=$(mktemp -d /var/tmp/repro-cachesim-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
echo "build-image: debootstrap bookworm from $MIRROR (about a minute)"
debootstrap --variant=minbase --include=valgrind bookworm "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 \
    || { tail -20 "$ROOTFS.log"; exit 1; }
rm -f "$ROOTFS.log"
tar -C "$ROOTFS" -c . | docker import --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/sh"]' - "$TAG" >/dev/null
echo "build-image: built $TAG ($(docker image inspect -f '{{.Id}}' "$TAG"))"
