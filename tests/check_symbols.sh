#!/bin/sh
# check_symbols.sh LIB - the shared library exports only lsuv_* symbols, defines or
# imports no vk* symbol and has no DT_NEEDED on libvulkan (the loader is dlopen'ed).
set -eu
lib=$1
exported=$(nm -D --defined-only "$lib" | awk 'NF == 3 { print $3 }')
[ -n "$exported" ] || { echo "no exported symbols found in $lib"; exit 1; }
bad=$(printf '%s\n' "$exported" | grep -v '^lsuv_' || true)
if [ -n "$bad" ]; then echo "exported symbols without the lsuv_ prefix:"; echo "$bad"; exit 1; fi
vk=$(nm -D "$lib" | awk '{ print $NF }' | grep '^vk' || true)
if [ -n "$vk" ]; then echo "vk* symbols in the dynamic table:"; echo "$vk"; exit 1; fi
if readelf -d "$lib" | grep NEEDED | grep -q vulkan; then echo "$lib links libvulkan"; exit 1; fi
echo "ok: $(printf '%s\n' "$exported" | wc -l) exported symbols, all lsuv_*; no libvulkan dependency"
