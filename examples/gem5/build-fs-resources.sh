#!/usr/bin/env bash
# Make what the full-system manifests mount, offline, from Debian 12 packages, into resources/:
#
#   vmlinux     Linux 6.1 (Debian's linux-source-6.1): `make tinyconfig` + fs-kernel.fragment,
#               with an uncompressed initramfs built in: /init (guest/init.c: runs what gem5
#               hands it through `m5 readfile`), /sbin/m5 (guest/m5.c) and busybox-static as
#               /bin/sh and a few commands, for jobs that are scripts
#   disk.img    1 MiB of zeros: gem5's X86Board insists on an IDE disk (the kernel has no driver)
#   chase       workloads/chase.c built -static with its region of interest marked (-DCHASE_ROI),
#               the job restore-sweep.yaml hands the booted guest
#   kernel.config, SHA256SUMS, inputs.txt (what they were made from)
#
#   examples/gem5/build-fs-resources.sh [--force]
#
# Reproducible: fixed KBUILD_BUILD_TIMESTAMP/USER/HOST/VERSION, LC_ALL=C, TZ=UTC, the initramfs
# from a list with fixed owners, modes and times; the same inputs give the same bytes.
# Idempotent: when resources/inputs.txt matches the inputs (this script, the fragment, the guest
# and workload sources, the kernel tarball, busybox and the compiler) and SHA256SUMS matches the
# outputs, it does nothing; --force rebuilds. A build takes about 6 minutes on 2 cores.
# Env: JOBS (default: the number of CPUs), WORK (the build tree, default resources/build).
# Needs: linux-source-6.1 busybox-static build-essential flex bison bc libelf-dev libssl-dev cpio
#        (scripts/setup-host --example installs them).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/resources
WORK=${WORK:-$OUT/build}
JOBS=${JOBS:-$(nproc)}
TARBALL=/usr/src/linux-source-6.1.tar.xz
BUSYBOX=/bin/busybox
force=false
for arg in "$@"; do
    case "$arg" in
        --force) force=true ;;
        *) echo "build-fs-resources: unknown option $arg (only --force)" >&2; exit 2 ;;
    esac
done

missing=()
for package in linux-source-6.1 busybox-static gcc libc6-dev make flex bison bc libelf-dev libssl-dev cpio; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "build-fs-resources: missing Debian packages: ${missing[*]}; install them with: sudo scripts/setup-host --example" >&2
    exit 3
fi

# Fixed build settings: the kernel embeds its build time, user, host and number.
export LC_ALL=C TZ=UTC
export KBUILD_BUILD_TIMESTAMP="2024-01-01 00:00:00 UTC"
export KBUILD_BUILD_USER=repro KBUILD_BUILD_HOST=repro KBUILD_BUILD_VERSION=1
export SOURCE_DATE_EPOCH=1704067200
GUEST_CFLAGS=(-O2 -static -nostdlib -ffreestanding -fno-builtin -fno-stack-protector -fno-pie -no-pie
              -fno-asynchronous-unwind-tables -Wall -Wextra -Werror -Wl,--build-id=none -s)

inputs() {
    (cd "$HERE" && sha256sum build-fs-resources.sh fs-kernel.fragment guest/*.c guest/*.h workloads/chase.c)
    echo "$(sha256sum "$TARBALL" | cut -d' ' -f1)  $TARBALL"
    echo "$(sha256sum "$BUSYBOX" | cut -d' ' -f1)  $BUSYBOX"
    dpkg-query -W -f='${Package} ${Version}\n' linux-source-6.1 busybox-static gcc-12 libc6-dev binutils make
}

mkdir -p "$OUT"
wanted=$(inputs)
if ! $force && [ -f "$OUT/inputs.txt" ] && [ "$(cat "$OUT/inputs.txt")" = "$wanted" ] &&
    [ -f "$OUT/SHA256SUMS" ] && (cd "$OUT" && sha256sum --quiet -c SHA256SUMS 2>/dev/null); then
    echo "build-fs-resources: resources/ is up to date (inputs.txt and SHA256SUMS match); --force rebuilds"
    cat "$OUT/SHA256SUMS"
    exit 0
fi
rm -f "$OUT/inputs.txt" "$OUT/SHA256SUMS"
started=$(date +%s)

# 1. The kernel sources (the tarball's top folder is linux-source-6.1).
mkdir -p "$WORK"
KSRC=$WORK/linux-source-6.1
KOBJ=$WORK/obj
if [ ! -f "$KSRC/.unpacked" ]; then
    echo "build-fs-resources: unpacking $TARBALL"
    rm -rf "$KSRC"
    tar -xJf "$TARBALL" -C "$WORK"
    touch "$KSRC/.unpacked"
fi

# 2. The guest's programs, and the initramfs list. The list and the files it names live in the
#    kernel's build folder and are named relative to it (make runs there), so that neither the
#    configuration nor the cpio depends on where the build runs; owners and modes are in the list,
#    and every file's time is SOURCE_DATE_EPOCH (gen_init_cpio takes a file's own mtime).
mkdir -p "$KOBJ"
ROOT=$KOBJ/rootfs
rm -rf "$ROOT" && mkdir -p "$ROOT"
gcc "${GUEST_CFLAGS[@]}" -o "$ROOT/init" "$HERE/guest/init.c"
gcc "${GUEST_CFLAGS[@]}" -o "$ROOT/m5" "$HERE/guest/m5.c"
cp "$BUSYBOX" "$ROOT/busybox"
gcc -O1 -static -Wall -Werror -DCHASE_ROI -I"$HERE/guest" -Wl,--build-id=none -o "$WORK/chase" "$HERE/workloads/chase.c"
touch -d "@$SOURCE_DATE_EPOCH" "$ROOT/init" "$ROOT/m5" "$ROOT/busybox" "$WORK/chase"
{
    echo "dir /dev 755 0 0"
    echo "nod /dev/console 600 0 0 c 5 1"
    echo "nod /dev/null 666 0 0 c 1 3"
    for dir in /bin /sbin /proc /sys /root; do echo "dir $dir 755 0 0"; done
    echo "dir /tmp 1777 0 0"
    echo "file /init rootfs/init 755 0 0"
    echo "file /sbin/m5 rootfs/m5 755 0 0"
    echo "file /bin/busybox rootfs/busybox 755 0 0"
    for applet in sh cat echo printf ls mkdir rm cp mv ln mount umount uname sleep seq true false \
        test expr wc head tail sort grep sed awk cut tr od dd md5sum sha256sum date dmesg free ps env time; do
        echo "slink /bin/$applet busybox 777 0 0"
    done
} >"$KOBJ/initramfs.list"

# 3. The configuration: tinyconfig, the fragment, the initramfs; every line of the fragment must
#    survive olddefconfig (a dependency it lacks would silently drop it).
echo "build-fs-resources: configuring (tinyconfig + fs-kernel.fragment)"
make -s -C "$KSRC" O="$KOBJ" ARCH=x86_64 tinyconfig >/dev/null
FRAGMENT=$WORK/fragment.config
{ cat "$HERE/fs-kernel.fragment"; echo 'CONFIG_INITRAMFS_SOURCE="initramfs.list"'; } >"$FRAGMENT"
(cd "$KOBJ" && "$KSRC/scripts/kconfig/merge_config.sh" -m -O "$KOBJ" "$KOBJ/.config" "$FRAGMENT" >/dev/null)
make -s -C "$KSRC" O="$KOBJ" ARCH=x86_64 olddefconfig >/dev/null
dropped=0
while IFS= read -r line; do
    case "$line" in
        CONFIG_*=*) grep -qxF "$line" "$KOBJ/.config" || { echo "build-fs-resources: not applied: $line" >&2; dropped=1; } ;;
        "# CONFIG_"*" is not set")
            symbol=${line#\# }
            symbol=${symbol%% *}
            if grep -q "^$symbol=" "$KOBJ/.config"; then echo "build-fs-resources: not applied: $line" >&2; dropped=1; fi ;;
    esac
done <"$FRAGMENT"
[ "$dropped" = 0 ] || { echo "build-fs-resources: fs-kernel.fragment was not fully applied (see above)" >&2; exit 1; }

# 4. The kernel.
echo "build-fs-resources: make -j$JOBS vmlinux (about 6 minutes on 2 cores)"
make -s -C "$KSRC" O="$KOBJ" ARCH=x86_64 -j"$JOBS" vmlinux

# 5. The outputs, and what they were made from.
install -m 644 "$KOBJ/vmlinux" "$OUT/vmlinux"
install -m 644 "$KOBJ/.config" "$OUT/kernel.config"
install -m 755 "$WORK/chase" "$OUT/chase"
rm -f "$OUT/disk.img"
head -c 1048576 /dev/zero >"$OUT/disk.img"
(cd "$OUT" && sha256sum vmlinux disk.img chase kernel.config >SHA256SUMS)
echo "$wanted" >"$OUT/inputs.txt"
echo "build-fs-resources: $(grep -a -m1 -o 'Linux version [^(]*' "$OUT/vmlinux" || true)in $(($(date +%s) - started)) s; initramfs $(stat -c %s "$KOBJ/usr/initramfs_data.cpio") B"
cat "$OUT/SHA256SUMS"
