#!/bin/sh
# check_init_failure.sh TOOL FAULT_LOADER - `lsuv-vk init` writes nothing unless the
# whole run succeeded: for every failure below the exit status is 1, stderr says what
# failed, the output folder holds exactly what it held before (an existing output file
# byte for byte, no new or temporary file). Device faults come from FAULT_LOADER
# (tests/vk_fault_loader.c), a stand-in Vulkan loader that fails the N-th vkQueueSubmit
# (VK_ERROR_DEVICE_LOST) or vkAllocateMemory, aimed at points across a real run.
set -u
tool=$1 shim=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
data=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
[ -f "$data" ] || { echo "skip: $data missing (apt-get install dataset-fashion-mnist)"; exit 77; }

out="$tmp/out"
mkdir "$out"
# a complete run through the stand-in loader, counting submissions and allocations
# (--keep-weights: no orthonormal pre-init, the slow part on lavapipe; test_faults.c fails it)
run="--model mlp20 --data $data --batch 32 --standardize --center --keep-weights --tmax 3 -o $out/w.safetensors"
LSUV_VULKAN_LIBRARY="$shim" LSUV_FAULT_COUNT=1 "$tool" init $run >"$tmp/stdout" 2>"$tmp/stderr" ||
    { fail "baseline run through $shim:"; sed 's/^/  /' "$tmp/stderr"; exit 1; }
submits=$(sed -n 's/^vk_fault_loader: \([0-9]*\) submits.*/\1/p' "$tmp/stderr" | sort -n | tail -n 1)
[ -n "$submits" ] && [ "$submits" -ge 8 ] || { fail "baseline: no submit count (got '$submits')"; exit 1; }
cp "$out/w.safetensors" "$tmp/before"
echo "ok   baseline: $submits submits"

# check NAME PATTERN [VAR=VALUE...] -- ARGS... : init fails with status 1, PATTERN on
# stderr, and leaves $out as it was
check() {
    name=$1 pattern=$2
    shift 2
    envs=""
    while [ "$1" != "--" ]; do envs="$envs $1"; shift; done
    shift
    env LSUV_VULKAN_LIBRARY="$shim" $envs "$tool" init "$@" >"$tmp/stdout" 2>"$tmp/stderr"
    got=$?
    if [ "$got" -ne 1 ]; then
        fail "$name: exit $got, expected 1"; sed 's/^/  stderr: /' "$tmp/stderr"
    elif ! grep -q -- "$pattern" "$tmp/stderr"; then
        fail "$name: '$pattern' not on stderr:"; sed 's/^/  /' "$tmp/stderr"
    elif [ "$(ls -A "$out")" != "w.safetensors" ]; then
        fail "$name: the output folder now holds: $(ls -A "$out" | tr '\n' ' ')"
    elif ! cmp -s "$tmp/before" "$out/w.safetensors"; then
        fail "$name: the existing output file changed"
    else
        echo "ok   $name: $(grep -m1 'init:' "$tmp/stderr" | cut -c1-150)"
    fi
}

# the device lost a third and two thirds into the run, and at its last submission; LSUV
# failing says so, and that the parameters were left alone
for n in $((submits / 3)) $((2 * submits / 3)) "$submits"; do
    check "device_lost_at_submit_$n" "VK_ERROR_DEVICE_LOST.*nothing was changed" LSUV_FAULT_SUBMIT=$n -- $run
done
# no device memory for the model's parameters
check no_device_memory "VK_ERROR_OUT_OF_DEVICE_MEMORY" LSUV_FAULT_ALLOC=1 -- $run
# bad inputs
check missing_data "no-such-file" -- --model mlp20 --data "$tmp/no-such-file.npy" -o "$out/w.safetensors"
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    /usr/bin/python3 -c "import numpy as np; x = np.ones((32, 784), np.float32); x[20, 5] = np.nan; np.save('$tmp/nan.npy', x)"
    check nan_data "LSUV_ERROR_BAD_DATA" -- --model mlp20 --data "$tmp/nan.npy" -o "$out/w.safetensors"
else
    echo "skip nan_data: no numpy"
fi
# a new output name: nothing may appear under it either
check device_lost_new_name "VK_ERROR_DEVICE_LOST" LSUV_FAULT_SUBMIT=$((submits / 2)) -- \
    --model mlp20 --data "$data" --batch 32 --keep-weights -o "$out/new.safetensors"
[ "$fails" -eq 0 ] && echo "init leaves nothing behind on failure"
exit "$fails"
