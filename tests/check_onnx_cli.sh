#!/bin/sh
# check_onnx_cli.sh TOOL SOURCE_ROOT - lsuv-vk on ONNX models end to end: bad inputs (clear
# error, exit 1, no output file), `init -o OUT.onnx` (onnx.checker, only LSUV tensors and
# the unsharing differ), external data round trip, and PyTorch loading the .safetensors and
# the .onnx output and measuring unit variance at every Conv/Linear on the same batch;
# `forward` against PyTorch's forward; `info`. Skipped (77) without python3 torch/onnx.
set -u
tool=$1
src=$2
py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$py" -c 'import onnx, torch, torchvision' 2>/dev/null || { echo "skip: python3 onnx/torch/torchvision missing"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chk="$src/tests/onnx/check_onnx_outputs.py"
fails=0
run() { # run NAME EXPECTED_STATUS CMD... ; output in $tmp/out, $tmp/err
    name=$1; want=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"; got=$?
    if [ "$got" -ne "$want" ]; then
        echo "FAIL $name: exit $got, expected $want"; sed 's/^/  /' "$tmp/err" "$tmp/out" | tail -20; fails=$((fails + 1))
    else echo "ok   $name"; fi
}
expect() { # expect NAME FILE PATTERN
    grep -q -- "$3" "$2" || { echo "FAIL $1: '$3' not in:"; sed 's/^/  /' "$2" | head; fails=$((fails + 1)); }
}
absent() { # absent NAME FILE...
    n=$1; shift
    for f in "$@"; do [ ! -e "$f" ] || { echo "FAIL $n: $f was written"; fails=$((fails + 1)); }; done
}

cd "$tmp" || exit 1
"$py" "$src/tests/onnx/export_cli_models.py" "$tmp" resnet18 || exit 1
"$py" "$chk" make-bad "$tmp" || exit 1
data=batch_64.npy

# bad inputs: each a clear error, exit 1, no output (nor a temporary file)
bad() { # bad NAME MODEL MESSAGE
    run "init_$1" 1 "$tool" init --model "$2" --data $data -o "out_$1.onnx"; expect "init_$1" "$tmp/err" "$3"
    absent "init_$1" "out_$1.onnx" "out_$1.onnx.data"
    ls | grep -q "tmp-" && { echo "FAIL init_$1: a temporary file was left"; fails=$((fails + 1)); }
    run "forward_$1" 1 "$tool" forward --model "$2" --data $data -o "fw_$1.npy"; expect "forward_$1" "$tmp/err" "$3"
    absent "forward_$1" "fw_$1.npy"
}
bad truncated truncated.onnx "truncated, or not protobuf"
bad not_protobuf not_protobuf.onnx "not an ONNX model"
bad missing_external ext/model.onnx "external data file 'model.onnx.data' is missing"
bad unsupported unsupported.onnx "node 'weird' (Einsum)"
bad no_such_file nope.onnx "cannot open"
run info_unsupported 1 "$tool" info --model unsupported.onnx; expect info_unsupported "$tmp/err" "Einsum"
expect info_unsupported "$tmp/out" "input x: (2, 5)"
run zoo_to_onnx 2 "$tool" init --model mlp20 --data $data -o zoo.onnx; expect zoo_to_onnx "$tmp/err" "ONNX output is for ONNX models"
absent zoo_to_onnx zoo.onnx
run act_on_onnx 2 "$tool" bench --model resnet18_preserve.onnx --act tanh; expect act_on_onnx "$tmp/err" "zoo models"

# info
run info 0 "$tool" info --model resnet18_preserve.onnx
expect info "$tmp/out" "per sample: (3, 64, 64)"
expect info "$tmp/out" "LSUV layers: 21"
expect info "$tmp/out" "/layer4/layer4.1/conv2/Conv"
expect info "$tmp/out" "parameters: "

# PRESERVE export (batch norm and every state_dict name kept): .onnx and .safetensors
run init_onnx 0 "$tool" init --model resnet18_preserve.onnx --data $data -o r18.onnx
expect init_onnx "$tmp/out" "/fc/Gemm"
run diff_onnx 0 "$py" "$chk" diff resnet18_preserve.onnx r18.onnx
run variance_onnx 0 "$py" "$chk" variance resnet18 r18.onnx $data 0.101
run init_st 0 "$tool" init --model resnet18_preserve.onnx --data $data -o r18.safetensors
run variance_st 0 "$py" "$chk" variance resnet18 r18.safetensors $data 0.101

# forward with either weights file agrees with PyTorch's forward with those weights
run forward_st 0 "$tool" forward --model resnet18_preserve.onnx --data $data --weights r18.safetensors -o f_st.npy
run forward_st_torch 0 "$py" "$chk" forward resnet18 r18.safetensors $data f_st.npy
run forward_onnx 0 "$tool" forward --model resnet18_preserve.onnx --data $data --weights r18.onnx -o f_onnx.npy
run forward_onnx_torch 0 "$py" "$chk" forward resnet18 r18.onnx $data f_onnx.npy
run forward_layer 0 "$tool" forward --model resnet18_preserve.onnx --data $data --layer /layer1/layer1.0/relu/Relu -o f_l.npy
expect forward_layer "$tmp/out" "(4, 64, 16, 16)"
run forward_bad_layer 1 "$tool" forward --model resnet18_preserve.onnx --data $data --layer nope -o f_x.npy
absent forward_bad_layer f_x.npy

# default eval-mode export: merged tensors behind Identity nodes are unshared
run init_eval 0 "$tool" init --model resnet18_eval.onnx --data $data -o r18_eval.onnx
run diff_eval 0 "$py" "$chk" diff resnet18_eval.onnx r18_eval.onnx
expect diff_eval "$tmp/out" "alias nodes dropped"

# external data: written beside the output, in another folder
mkdir -p out_ext
run init_ext 0 "$tool" init --model small_ext/model.onnx --data small_ext/x.npy -o out_ext/m.onnx
[ -s out_ext/m.onnx.data ] || { echo "FAIL init_ext: out_ext/m.onnx.data missing"; fails=$((fails + 1)); }
run diff_ext 0 "$py" "$chk" diff small_ext/model.onnx out_ext/m.onnx
run init_ext_again 0 "$tool" init --model out_ext/m.onnx --data small_ext/x.npy --seed 7 -o out_ext/m2.onnx
run diff_ext_again 0 "$py" "$chk" diff out_ext/m.onnx out_ext/m2.onnx

# bench from ONNX runs
run bench_onnx 0 "$tool" bench --model resnet18_preserve.onnx --batch 2 --repeat 1
expect bench_onnx "$tmp/out" "/conv1/Conv"

[ "$fails" -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all ONNX CLI checks passed"
