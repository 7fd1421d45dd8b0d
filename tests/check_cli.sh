#!/bin/sh
# check_cli.sh TOOL - the lsuv-vk command line: help, version, devices, errors (stderr,
# non-zero status), init on real data writing a loadable file, no clobbering on failure.
set -u
tool=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() { # check NAME EXPECTED_STATUS CMD... ; stdout/stderr kept in $tmp/out, $tmp/err
    name=$1; want=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"; got=$?
    if [ "$got" -ne "$want" ]; then
        echo "FAIL $name: exit $got, expected $want"; sed 's/^/  stderr: /' "$tmp/err"; fails=$((fails + 1))
    else echo "ok   $name"; fi
}
expect() { # expect NAME FILE PATTERN
    if ! grep -q -- "$3" "$2"; then echo "FAIL $1: '$3' not in $2:"; sed 's/^/  /' "$2" | head -20; fails=$((fails + 1)); fi
}

check help 0 "$tool" --help;                      expect help "$tmp/out" "usage: lsuv-vk"
check version 0 "$tool" --version;                expect version "$tmp/out" "lsuv-vk [0-9]"
check no_args 2 "$tool";                          expect no_args "$tmp/err" "usage"
check unknown_command 2 "$tool" frobnicate;       expect unknown_command "$tmp/err" "unknown command 'frobnicate'"
[ -s "$tmp/out" ] && { echo "FAIL unknown_command wrote to stdout"; fails=$((fails + 1)); }
check devices 0 "$tool" devices;                  expect devices "$tmp/out" "subgroup"
check bench_no_model 2 "$tool" bench;             expect bench_no_model "$tmp/err" "--model is required"
check bench_bad_model 2 "$tool" bench --model nope; expect bench_bad_model "$tmp/err" "unknown model 'nope'"
check bench_bad_batch 2 "$tool" bench --model mlp20 --batch -3; expect bench_bad_batch "$tmp/err" "--batch"
check bench_json 0 "$tool" bench --model fitnet4 --batch 8 --repeat 1 --json
expect bench_json "$tmp/out" '"flops_executed"'
expect bench_json "$tmp/out" '"layers": \[{"name": "0", "kind": "conv2d"'
expect bench_json "$tmp/out" '"warning": "batch of 8 samples'
check init_missing 2 "$tool" init --model mlp20;  expect init_missing "$tmp/err" "required"
# option parsing (getopt_long): every usage error exits 2 with a message naming the option
check missing_value 2 "$tool" bench --model;      expect missing_value "$tmp/err" "--model needs a value"
check missing_short 2 "$tool" init --model mlp20 --data x -o; expect missing_short "$tmp/err" "-o needs a value"
check unknown_option 2 "$tool" bench --model mlp20 --frob; expect unknown_option "$tmp/err" "unknown option or missing value: '--frob'"
check unknown_short 2 "$tool" init -x;            expect unknown_short "$tmp/err" "unknown option or missing value: '-x'"
check stray_argument 2 "$tool" bench --model mlp20 extra; expect stray_argument "$tmp/err" "unexpected argument 'extra'"
check devices_extra 2 "$tool" devices now;        expect devices_extra "$tmp/err" "devices: unexpected argument 'now'"
check bad_measure 2 "$tool" bench --model mlp20 --measure mid; expect bad_measure "$tmp/err" "'mid' is not pre or post"
check bad_act 2 "$tool" bench --model mlp20 --act frob; expect bad_act "$tmp/err" "unknown activation 'frob'"
check bad_batch_eq 2 "$tool" bench --model mlp20 --batch=0; expect bad_batch_eq "$tmp/err" "--batch: '0' is not an integer"
check abbreviated 2 "$tool" init --mod mlp20 --dat x --tol 2 -o y; expect abbreviated "$tmp/err" "--tol: '2' is not a number"
check no_value_flag 2 "$tool" bench --model mlp20 --json=1; expect no_value_flag "$tmp/err" "'--json'"
check init_help 0 "$tool" init --help;            expect init_help "$tmp/out" "usage: lsuv-vk init"
check bench_help 0 "$tool" bench -h;              expect bench_help "$tmp/out" "usage: lsuv-vk bench"
check devices_help 0 "$tool" devices --help;      expect devices_help "$tmp/out" "usage: lsuv-vk devices"
check kernel_gemm 0 "$tool" bench --kernel gemm 33 17 9 --repeat 1 --json; expect kernel_gemm "$tmp/out" '"kernel": "gemm", "m": 33, "n": 17, "k": 9'
expect kernel_gemm "$tmp/out" '"gflops": [0-9]'
check kernel_short 2 "$tool" bench --kernel gemm 3 4; expect kernel_short "$tmp/err" "three sizes: gemm|update M N K"
check kernel_update 0 "$tool" bench --kernel update 33 17 9 --repeat 1 --json; expect kernel_update "$tmp/out" '"kernel": "update", "m": 33, "n": 17, "k": 9'
expect kernel_update "$tmp/out" '"gflops": [0-9]'
check kernel_kind 2 "$tool" bench --kernel conv 1 2 3; expect kernel_kind "$tmp/err" "unknown kernel 'conv'"
check kernel_size 2 "$tool" bench --kernel gemm 1 0 3; expect kernel_size "$tmp/err" "'0' is not an integer"
check kernel_model 2 "$tool" bench --kernel gemm 1 2 3 --model mlp20; expect kernel_model "$tmp/err" "exclude each other"
check bench_profile 0 "$tool" bench --model mlp20 --batch 4 --repeat 1 --profile; expect bench_profile "$tmp/out" "device time per kernel"

data=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
if [ -f "$data" ]; then
    check init_fmnist 0 "$tool" init --model mlp20 --data "$data" --batch 64 --standardize -o "$tmp/w.safetensors"
    expect init_fmnist "$tmp/out" "wrote"
    [ -s "$tmp/w.safetensors" ] || { echo "FAIL init_fmnist: no output file"; fails=$((fails + 1)); }
    cp "$tmp/w.safetensors" "$tmp/before"
    check init_bad_model_data 1 "$tool" init --model fitnet4 --data "$data" -o "$tmp/w.safetensors"
    expect init_bad_model_data "$tmp/err" "784 values"
    printf 'not a data file' >"$tmp/bad.npy"
    check init_bad_file 1 "$tool" init --model mlp20 --data "$tmp/bad.npy" -o "$tmp/w.safetensors"
    expect init_bad_file "$tmp/err" "bad.npy"
    cmp -s "$tmp/before" "$tmp/w.safetensors" || { echo "FAIL: a failed init changed the output file"; fails=$((fails + 1)); }
    check init_unwritable 1 "$tool" init --model mlp20 --data "$data" --batch 16 -o "$tmp/no/such/dir/w.safetensors"
    expect init_unwritable "$tmp/err" "no/such/dir"
    check init_keep_post 0 "$tool" init --model mlp20 --data "$data" --batch 32 --keep-weights --measure post \
        --batches 2 --tol 0.05 -o "$tmp/k.safetensors"
    expect init_keep_post "$tmp/out" "2 batch(es) of 32 samples"
    if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
        check torch_load 0 /usr/bin/python3 "$(dirname "$0")/check_torch_load.py" mlp20 "$tmp/w.safetensors"
        expect torch_load "$tmp/out" "nothing missing"
    else
        echo "skip torch_load: PyTorch is not installed"
    fi
    ls "$tmp" | grep -q tmp- && { echo "FAIL: temporary file left behind"; fails=$((fails + 1)); }
else
    echo "skip init on real data: $data missing (apt-get install dataset-fashion-mnist)"
fi
# numpy's default dtype (float64) is taken, and what float32 rounds is said on stderr
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    /usr/bin/python3 -c "import numpy as np; np.save('$tmp/f8.npy', np.random.default_rng(1).standard_normal((32, 784)))"
    check init_float64 0 "$tool" init --model mlp20 --data "$tmp/f8.npy" -o "$tmp/f8.safetensors"
    expect init_float64 "$tmp/err" "note: .*f8.npy: float64 values converted to float32: [0-9]* of 25088 rounded"
else
    echo "skip init_float64: no numpy"
fi
[ "$fails" -eq 0 ] && echo "all CLI checks passed"
exit "$fails"
