#!/usr/bin/env bash
# Build the example's gem5 image offline, from a gem5 kit (a gem5 built elsewhere, see
# ../shared/gem5/README.md), and pin this folder's manifests to it.
#
#   examples/gem5/build-image.sh [KIT.tar.xz]
#
# KIT defaults to gem5/gem5-v24.0.0.1-x86-*.tar.xz in $REPRO_SHARED if it is set, else in ../shared
# beside the checkout (the checkout's parent folder's shared/). The image is a
# minimal Debian 12 (debootstrap from the machine's Debian mirror) with gem5's run-time
# libraries, the kit unpacked as /gem5 and this folder's workloads compiled -static as
# /workloads (so the image ID pins them too). It is labelled with the kit's sha256: a changed kit
# makes a new image; the same kit reuses the one there. With `repro` on PATH the manifests
# beside this script are then pinned to the image's ID (repro lock --update).
# Needs root (debootstrap), docker, gcc and static libc: `scripts/setup-host --example`.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TAG=repro-example/gem5:v24.0.0.1
LABEL=org.repro.example.gem5-kit
RUNTIME=libpython3.11,libprotobuf32,libtcmalloc-minimal4,libpng16-16,zlib1g

KIT="${1:-}"
SHARED="${REPRO_SHARED:-$(cd "$HERE/../../.." && pwd)/shared}"
if [ -z "$KIT" ]; then
    KIT=$(ls "$SHARED"/gem5/gem5-v24.0.0.1-x86*.tar.xz 2>/dev/null | head -n 1 || true)
fi
if [ -z "$KIT" ] || [ ! -f "$KIT" ]; then
    echo "build-image: no gem5 kit found (looked for gem5/gem5-v24.0.0.1-x86-*.tar.xz in $SHARED:" \
         "\$REPRO_SHARED, else ../shared beside the checkout); give one: $0 KIT.tar.xz — or build from the gem5 sources" \
         "with the Dockerfile (needs the internet; see $HERE/README.md)" >&2
    exit 3
fi
KIT=$(cd "$(dirname "$KIT")" && pwd)/$(basename "$KIT")
SUM=$(sha256sum "$KIT" | cut -d' ' -f1)

have=$(docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$TAG" 2>/dev/null || true)
if [ "$have" = "$SUM" ]; then
    echo "build-image: $TAG is already built from this kit ($(docker image inspect -f '{{.Id}}' "$TAG"))"
else
    MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    MIRROR="${MIRROR:-http://deb.debian.org/debian}"
    ROOTFS=$(mktemp -d /var/tmp/repro-gem5-rootfs.XXXXXX)
    trap 'rm -rf "$ROOTFS" "$ROOTFS.log"' EXIT
    echo "build-image: debootstrap bookworm from $MIRROR with gem5's run-time libraries (a minute or two)"
    debootstrap --variant=minbase --include="$RUNTIME" bookworm "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 \
        || { tail -20 "$ROOTFS.log" >&2; exit 1; }
    mkdir -p "$ROOTFS/gem5" "$ROOTFS/workloads"
    tar -xJf "$KIT" -C "$ROOTFS/gem5" --strip-components=1
    for source in "$HERE"/workloads/*.c; do
        gcc -O1 -static -o "$ROOTFS/workloads/$(basename "$source" .c)" "$source"
    done
    rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
    tar -C "$ROOTFS" -c . | docker import \
        --change "LABEL $LABEL=$SUM" \
        --change 'LABEL org.repro.example.gem5-version=v24.0.0.1' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'WORKDIR /gem5' \
        --change 'CMD ["/gem5/build/X86/gem5.opt", "--help"]' \
        - "$TAG" >/dev/null
    echo "build-image: built $TAG ($(docker image inspect -f '{{.Id}}' "$TAG")) from kit sha256 $SUM"
fi

if command -v repro >/dev/null 2>&1; then
    repro lock --update "$HERE/smoke.yaml" "$HERE/se-sweep.yaml" "$HERE/fs-boot.yaml"
else
    echo "build-image: repro is not on PATH; pin the manifests with: repro lock --update $HERE/{smoke,se-sweep,fs-boot}.yaml"
fi
