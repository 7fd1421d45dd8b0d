#!/bin/sh
# check_test_lists.sh BUILD SOURCE - every tests/test_*.c file is a registered test.
# tests/meson.build lists test names by hand; a missing listed file is a configure error
# (files()), and this catches the other half of a rename: a file nobody listed.
build=$1 src=$2
registered=$(meson introspect --tests "$build" | python3 -c \
    'import json, sys; print("\n".join(t["name"] for t in json.load(sys.stdin)))') || exit 1
status=0
for f in "$src"/tests/test_*.c; do
    name=$(basename "$f" .c)
    if ! printf '%s\n' "$registered" | grep -qx "$name"; then
        echo "tests/$name.c is not a registered test: add '$name' to test_names in tests/meson.build" >&2
        status=1
    fi
done
exit $status
