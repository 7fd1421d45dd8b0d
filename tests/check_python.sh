#!/bin/sh
# check_python.sh SOURCE_ROOT LIBRARY - the PyTorch front end's tests (tests/python) with
# the built library. Needs an interpreter that imports torch, torchvision and onnx
# (Debian's /usr/bin/python3 with python3-torch, python3-torchvision, python3-onnx);
# without one the test is skipped (exit 77), with a message saying what is missing.
set -eu
root=$1; lib=$2
for py in ${PYTHON:-} /usr/bin/python3 python3; do
    if "$py" -c 'import torch, torchvision, onnx' 2>/dev/null; then
        PYTHONPATH="$root/python" LSUV_VK_LIBRARY="$lib" exec "$py" -m unittest discover -v \
            -s "$root/tests/python" -p 'test_*.py'
    fi
done
echo "no Python interpreter with torch, torchvision and onnx: install python3-torch python3-torchvision python3-onnx" >&2
exit 77
