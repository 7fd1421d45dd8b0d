#!/usr/bin/env python3
"""check_onnx_outputs.py - checks of lsuv-vk's ONNX and safetensors outputs for
check_onnx_cli.sh (exit 0 when the check holds, 1 with a message when not).

  diff IN.onnx OUT.onnx
      OUT passes onnx.checker and differs from IN only in LSUV layers' tensors (weight
      and bias of Conv/Gemm, the initializer operand of MatMul) and the unsharing: an
      Identity alias replaced by an initializer of its own, or a layer's input renamed to a
      new initializer. Every other node, attribute, initializer byte and the model's
      metadata and opsets are equal; at least one LSUV tensor changed.
  variance MODEL WEIGHTS BATCH.npy TOL
      torchvision MODEL (eval mode) with load_state_dict(WEIGHTS, strict=False), WEIGHTS a
      .safetensors or .onnx file (initializers and Identity aliases, via numpy_helper);
      every Conv2d/Linear weight must come from WEIGHTS; then each Conv2d/Linear output's
      variance on BATCH must be within TOL of 1.
  forward MODEL WEIGHTS BATCH.npy OUT.npy
      OUT (lsuv-vk forward with --weights WEIGHTS) equals PyTorch's forward of
      torchvision MODEL with those weights within 1e-4 relative (norm-wise).
  make-bad DIR
      writes the malformed inputs: truncated.onnx, not_protobuf.onnx, unsupported.onnx,
      ext/model.onnx with its external data file removed (ext/model.onnx.data missing), and
      small_ext/model.onnx (a small MLP with external data) with small_ext/x.npy.
"""
import json
import os
import struct
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto


def fail(msg):
    print("check_onnx_outputs: " + msg, file=sys.stderr)
    sys.exit(1)


def lsuv_slots(graph):
    """(node index, input slot) of every LSUV layer tensor, and the node kinds."""
    slots = set()
    for i, n in enumerate(graph.node):
        if n.op_type in ("Conv", "Gemm"):
            slots.update((i, s) for s in (1, 2) if s < len(n.input) and n.input[s])
        elif n.op_type == "MatMul":
            slots.update((i, s) for s in (0, 1))
    return slots


def diff(path_in, path_out):
    onnx.checker.check_model(path_out)
    a, b = onnx.load(path_in), onnx.load(path_out)
    for field in ("ir_version", "producer_name", "producer_version", "domain", "model_version", "doc_string"):
        if getattr(a, field) != getattr(b, field):
            fail(f"model field {field} differs")
    if list(a.opset_import) != list(b.opset_import) or list(a.metadata_props) != list(b.metadata_props):
        fail("opset imports or metadata differ")
    ga, gb = a.graph, b.graph
    if list(ga.input) != list(gb.input) or list(ga.output) != list(gb.output):
        fail("graph inputs or outputs differ")
    init_a = {t.name: t for t in ga.initializer}
    init_b = {t.name: t for t in gb.initializer}
    alias_of = {n.output[0]: n.input[0] for n in ga.node if n.op_type == "Identity" and n.input[0] in init_a}

    # names LSUV layers read in the input (through an Identity alias or not)
    slots = lsuv_slots(ga)
    lsuv_names = set()
    for i, s in slots:
        name = ga.node[i].input[s]
        if name in init_a:
            lsuv_names.add(name)
        elif name in alias_of:
            lsuv_names.add(alias_of[name])

    # nodes: the output's are the input's in order, minus dropped alias Identities
    j = 0
    new_inits = set(init_b) - set(init_a)
    for i, n in enumerate(ga.node):
        if j < len(gb.node) and gb.node[j].name == n.name and list(gb.node[j].output) == list(n.output):
            m = gb.node[j]
            j += 1
            if m.op_type != n.op_type or list(m.attribute) != list(n.attribute) or m.domain != n.domain:
                fail(f"node {n.name}: op or attributes differ")
            for s, (x, y) in enumerate(zip(n.input, m.input)):
                if x != y and not ((i, s) in slots and y in new_inits):
                    fail(f"node {n.name}: input {s} renamed {x} -> {y} outside an LSUV layer")
            if len(n.input) != len(m.input):
                fail(f"node {n.name}: input count differs")
            continue
        if n.op_type == "Identity" and n.input[0] in init_a and n.output[0] in new_inits:
            continue  # unshared: the alias is now an initializer of its own
        fail(f"node {n.name} ({n.op_type}) is missing from the output")
    if j != len(gb.node):
        fail(f"the output has {len(gb.node) - j} extra nodes")

    changed = 0
    for name, t in init_a.items():
        if name not in init_b:
            fail(f"initializer {name} is missing")
        u = init_b[name]
        if list(u.dims) != list(t.dims) or u.data_type != t.data_type:
            fail(f"initializer {name}: dims or data type differ")
        va, vb = numpy_helper.to_array(t, os.path.dirname(path_in)), numpy_helper.to_array(u, os.path.dirname(path_out))
        if name in lsuv_names:
            changed += not np.array_equal(va, vb)
        elif not np.array_equal(va, vb):
            fail(f"initializer {name} changed but no LSUV layer reads it")
    for name in new_inits:
        readers = [(i, s) for i, n in enumerate(gb.node) for s, x in enumerate(n.input) if x == name]
        if not readers or any((i, s) not in lsuv_slots(gb) for i, s in readers):
            fail(f"new initializer {name} is not read by LSUV layers only")
        changed += 1
    if changed == 0:
        fail("no LSUV tensor changed: the output equals the input")
    print(f"diff ok: {changed} LSUV tensors changed or unshared, {len(new_inits)} new, "
          f"{len(ga.node) - len(gb.node)} alias nodes dropped")


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        dt = {"F32": np.float32, "I64": np.int64}[e["dtype"]]
        lo, hi = e["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + lo:8 + n + hi], dtype=dt).reshape(e["shape"]).copy()
    return out


def read_onnx_weights(path):
    m = onnx.load(path)
    init = {t.name: numpy_helper.to_array(t, os.path.dirname(path)) for t in m.graph.initializer}
    for n in m.graph.node:  # merged tensors reach their other names through Identity
        if n.op_type == "Identity" and n.input[0] in init:
            init[n.output[0]] = init[n.input[0]]
    return init


def variance(model_name, weights, batch, tol):
    import torch
    model, layers = torch_model(model_name, weights)
    got = {}
    for name, m in layers.items():
        m.register_forward_hook(lambda mod, inp, out, name=name: got.__setitem__(name, out.double().var().item()))
    with torch.no_grad():
        model(torch.from_numpy(np.load(batch)))
    bad = {n: v for n, v in got.items() if abs(v - 1.0) >= tol}
    if len(got) != len(layers) or bad:
        fail(f"{weights}: {len(bad)} of {len(layers)} layers off unit variance: {dict(list(bad.items())[:4])}")
    print(f"variance ok: {len(got)} layers within {tol} of 1 (worst {max(abs(v - 1) for v in got.values()):.4f})")


def torch_model(model_name, weights):
    import torch
    import torchvision
    model = getattr(torchvision.models, model_name)(weights=None).eval()
    values = read_safetensors(weights) if weights.endswith(".safetensors") else read_onnx_weights(weights)
    state = {k: torch.from_numpy(np.array(v)) for k, v in values.items() if k in model.state_dict()}
    layers = {n: m for n, m in model.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))}
    missing = [n + ".weight" for n in layers if n + ".weight" not in state]
    if missing:
        fail(f"{weights} lacks {len(missing)} layer weights, e.g. {missing[:3]}")
    model.load_state_dict(state, strict=False)
    return model, layers


def forward(model_name, weights, batch, out):
    import torch
    model, _ = torch_model(model_name, weights)
    with torch.no_grad():
        want = model(torch.from_numpy(np.load(batch))).double().numpy()
    got = np.load(out).astype(np.float64)
    if got.shape != want.shape:
        fail(f"{out}: shape {got.shape}, PyTorch gives {want.shape}")
    err = np.linalg.norm(got - want) / np.linalg.norm(want)
    if not err < 1e-4:
        fail(f"{out}: relative error {err:.3g} against PyTorch's forward")
    print(f"forward ok: relative error {err:.3g}")


def make_bad(d):
    src = os.path.join(d, "resnet18_preserve.onnx")
    data = open(src, "rb").read()
    open(os.path.join(d, "truncated.onnx"), "wb").write(data[: len(data) // 2])
    open(os.path.join(d, "not_protobuf.onnx"), "w").write("this is a text file, not an ONNX model\n" * 10)

    # an op lsuv-vk does not run (LSTM-free and small: Einsum)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5])
    w = numpy_helper.from_array(np.eye(5, dtype=np.float32), "w")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
                           helper.make_node("Einsum", ["h"], ["y"], name="weird", equation="ij->ij")],
                          "g", [x], [y], [w])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), os.path.join(d, "unsupported.onnx"))

    # a small MLP with external data (every initializer in model.onnx.data)
    rng = np.random.default_rng(3)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 37])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 11])
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
             for n, s in (("fc1.weight", (23, 37)), ("fc1.bias", (23,)), ("fc2.weight", (11, 23)), ("fc2.bias", (11,)))]
    nodes = [helper.make_node("Gemm", ["x", "fc1.weight", "fc1.bias"], ["h"], name="fc1", transB=1),
             helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("Gemm", ["r", "fc2.weight", "fc2.bias"], ["y"], name="fc2", transB=1)]
    for sub in ("ext", "small_ext"):
        # a fresh model each time: saving with external data moves the tensors out of it
        model = helper.make_model(helper.make_graph(nodes, "mlp", [x], [y], [onnx.TensorProto.FromString(
            t.SerializeToString()) for t in inits]), opset_imports=[helper.make_opsetid("", 13)])
        os.makedirs(os.path.join(d, sub), exist_ok=True)
        onnx.save_model(model, os.path.join(d, sub, "model.onnx"), save_as_external_data=True,
                        all_tensors_to_one_file=True, location="model.onnx.data", size_threshold=0)
    os.remove(os.path.join(d, "ext", "model.onnx.data"))
    np.save(os.path.join(d, "small_ext", "x.npy"), rng.standard_normal((64, 37)).astype(np.float32))


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "diff" and len(sys.argv) == 4:
        diff(sys.argv[2], sys.argv[3])
    elif cmd == "variance" and len(sys.argv) == 6:
        variance(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
    elif cmd == "forward" and len(sys.argv) == 6:
        forward(*sys.argv[2:6])
    elif cmd == "make-bad" and len(sys.argv) == 3:
        make_bad(sys.argv[2])
    else:
        fail(__doc__)


if __name__ == "__main__":
    main()
