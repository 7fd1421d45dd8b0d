#!/bin/sh
# check_install.sh BUILD_DIR SOURCE_DIR - installs the build into a temporary root and
# compiles + runs a small program against it using only `pkg-config --cflags --libs`.
set -eu
build=$1
src=$2
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
meson install -C "$build" --destdir "$root" --no-rebuild --quiet >/dev/null
pc=$(find "$root" -name lsuv-vk.pc | head -n 1)
[ -n "$pc" ] || { echo "lsuv-vk.pc was not installed"; exit 1; }
export PKG_CONFIG_PATH="$(dirname "$pc")" PKG_CONFIG_SYSROOT_DIR="$root"
flags=$(pkg-config --cflags --libs lsuv-vk)
cc -std=c11 -o "$root/consumer" "$src/tests/install_consumer.c" $flags
libdir=$(dirname "$(find "$root" -name 'liblsuv-vk.so' | head -n 1)")
LD_LIBRARY_PATH="$libdir" "$root/consumer"
