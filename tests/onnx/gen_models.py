#!/usr/bin/python3
"""Writes the ONNX importer's test models into OUTDIR (run by the test suite at build time).

Every supported operator alone (or with the few nodes it needs), on odd shapes, with a
seeded input and the expected output computed here in float64 numpy, independently of
lsuv-vk. Files per case: NAME.onnx, NAME.in (float32 input, C order), NAME.ref (float64
output). OUTDIR/manifest.txt lists the cases, one a line:

  ok NAME TOL N NDIM D1 .. Dk      load, forward N samples of (D1..Dk), compare (relative L2 error <= TOL)
  bad NAME STATUS TEXT...          loading must fail with lsuv_status STATUS and a message holding TEXT

Uses onnx.helper only (Debian's python3-onnx 1.12) and numpy.
"""
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = sys.argv[1] if len(sys.argv) > 1 else "."
os.makedirs(OUT, exist_ok=True)
manifest = []
F = TensorProto.FLOAT
INT64_MAX = 2**63 - 1


def model(nodes, x_shape, out_name="y", inits=(), opset=13, batch="N", extra_inputs=(), name="g"):
    """A model with one float input 'x' of shape (batch,) + x_shape and output out_name."""
    x = helper.make_tensor_value_info("x", F, [batch] + list(x_shape))
    y = helper.make_tensor_value_info(out_name, F, None)
    g = helper.make_graph(nodes, name, [x] + list(extra_inputs), [y], initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="lsuv-vk tests")
    m.ir_version = 8 if opset >= 15 else 7
    return m


def init(name, a, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(a, dtype=dtype), name)


def ints(name, values):
    return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)


def save(name, m, check=True):
    if check:
        onnx.checker.check_model(m)
    onnx.save(m, os.path.join(OUT, name + ".onnx"))


def set_output_shape(m, shape):
    """The graph output's declared shape (onnx.checker wants one): batch axis as the input's."""
    out = m.graph.output[0]
    b = m.graph.input[0].type.tensor_type.shape.dim[0]
    dims = [b.dim_param or b.dim_value] + list(shape[1:])
    m.graph.output[0].CopyFrom(helper.make_tensor_value_info(out.name, F, dims))


def ok(name, m, x, ref, tol, check=True):
    """Saves a case; x is float32 (N, ...), ref the float64 expected output."""
    set_output_shape(m, ref.shape)
    save(name, m, check)
    x = np.ascontiguousarray(x, dtype=np.float32)
    x.tofile(os.path.join(OUT, name + ".in"))
    np.ascontiguousarray(ref, dtype=np.float64).tofile(os.path.join(OUT, name + ".ref"))
    manifest.append("ok %s %g %d %d %s" % (name, tol, x.shape[0], x.ndim - 1, " ".join(str(d) for d in x.shape[1:])))


def bad(name, m, status, text, check=False):
    save(name, m, check)
    manifest.append("bad %s %s %s" % (name, status, text))


def rng(seed):
    return np.random.default_rng(seed)


def randn(r, *shape, scale=1.0):
    return (r.standard_normal(shape) * scale).astype(np.float32)


# ------------------------------------------------------------------ references (float64)

def conv_ref(x, w, b, strides=(1, 1), dil=(1, 1), pads=(0, 0, 0, 0), group=1):
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (xp.shape[2] - dil[0] * (kh - 1) - 1) // strides[0] + 1
    ow = (xp.shape[3] - dil[1] * (kw - 1) - 1) // strides[1] + 1
    out = np.zeros((N, O, oh, ow))
    Og = O // group
    for g in range(group):
        xs = xp[:, g * Cg:(g + 1) * Cg]
        for i in range(kh):
            for j in range(kw):
                h0, w0 = i * dil[0], j * dil[1]
                patch = xs[:, :, h0:h0 + strides[0] * (oh - 1) + 1:strides[0], w0:w0 + strides[1] * (ow - 1) + 1:strides[1]]
                out[:, g * Og:(g + 1) * Og] += np.einsum("nchw,oc->nohw", patch, w[g * Og:(g + 1) * Og, :, i, j])
    if b is not None:
        out += b.astype(np.float64)[None, :, None, None]
    return out


def same_pads(in_sz, k, s, d, upper):
    out = -(-in_sz // s)
    total = max(0, (out - 1) * s + (k - 1) * d + 1 - in_sz)
    small = total // 2
    return (small, total - small) if upper else (total - small, small)


def pool_out(size, k, s, pb, pe, ceil_mode):
    span = size + pb + pe - k
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + pb:  # the last window must start inside (PyTorch's rule)
        out -= 1
    return out


def pool_ref(x, k, s, pads, kind, ceil_mode=False, include_pad=False):
    x = x.astype(np.float64)
    N, C, H, W = x.shape
    oh = pool_out(H, k[0], s[0], pads[0], pads[2], ceil_mode)
    ow = pool_out(W, k[1], s[1], pads[1], pads[3], ceil_mode)
    out = np.zeros((N, C, oh, ow))
    for i in range(oh):
        for j in range(ow):
            h0, w0 = i * s[0] - pads[0], j * s[1] - pads[1]
            h1, w1 = h0 + k[0], w0 + k[1]
            hs, ws = max(h0, 0), max(w0, 0)
            he, we = min(h1, H), min(w1, W)
            win = x[:, :, hs:he, ws:we]
            if kind == "max":
                out[:, :, i, j] = win.max(axis=(2, 3))
            else:
                if include_pad:  # taps inside the padded input
                    cnt = (min(h1, H + pads[2]) - h0) * (min(w1, W + pads[3]) - w0)
                else:
                    cnt = (he - hs) * (we - ws)
                out[:, :, i, j] = win.sum(axis=(2, 3)) / cnt
    return out


def erf(x):
    return np.vectorize(math.erf)(x)


# ------------------------------------------------------------------ conv

def conv_cases():
    r = rng(1)
    N = 3
    x = randn(r, N, 5, 9, 11)
    w, b = randn(r, 7, 5, 3, 3, scale=0.3), randn(r, 7)
    m = model([helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv", pads=[1, 1, 1, 1])], (5, 9, 11),
              inits=[init("w", w), init("b", b)])
    ok("conv_basic", m, x, conv_ref(x, w, b, pads=(1, 1, 1, 1)), 1e-5)

    w2 = randn(r, 6, 5, 3, 2, scale=0.3)
    m = model([helper.make_node("Conv", ["x", "w"], ["y"], strides=[2, 1], dilations=[2, 1], pads=[0, 1, 2, 0],
                                kernel_shape=[3, 2])], (5, 9, 11), inits=[init("w", w2)])
    ok("conv_stride_dilation_asym", m, x, conv_ref(x, w2, None, (2, 1), (2, 1), (0, 1, 2, 0)), 1e-5)

    x6 = randn(r, N, 6, 7, 9)
    w3, b3 = randn(r, 9, 2, 3, 3, scale=0.3), randn(r, 9)
    m = model([helper.make_node("Conv", ["x", "w", "b"], ["y"], group=3, pads=[1, 1, 1, 1])], (6, 7, 9),
              inits=[init("w", w3), init("b", b3)])
    ok("conv_groups", m, x6, conv_ref(x6, w3, b3, pads=(1, 1, 1, 1), group=3), 1e-5)

    x8 = randn(r, N, 8, 11, 10)
    w4 = randn(r, 8, 1, 3, 3, scale=0.3)
    m = model([helper.make_node("Conv", ["x", "w"], ["y"], group=8, strides=[2, 2], pads=[1, 1, 1, 1])], (8, 11, 10),
              inits=[init("w", w4)])
    ok("conv_depthwise", m, x8, conv_ref(x8, w4, None, (2, 2), pads=(1, 1, 1, 1), group=8), 1e-5)

    w5 = randn(r, 4, 5, 4, 3, scale=0.3)
    for mode in ["SAME_UPPER", "SAME_LOWER", "VALID"]:
        m = model([helper.make_node("Conv", ["x", "w"], ["y"], auto_pad=mode, strides=[2, 2])], (5, 9, 11),
                  inits=[init("w", w5)])
        if mode == "VALID":
            pads = (0, 0, 0, 0)
        else:
            ph = same_pads(9, 4, 2, 1, mode == "SAME_UPPER")
            pw = same_pads(11, 3, 2, 1, mode == "SAME_UPPER")
            pads = (ph[0], pw[0], ph[1], pw[1])
        ok("conv_auto_pad_" + mode.lower(), m, x, conv_ref(x, w5, None, (2, 2), pads=pads), 1e-5)

    x1 = randn(r, N, 4, 13)
    w1, b1 = randn(r, 5, 4, 3, scale=0.3), randn(r, 5)
    m = model([helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 2], strides=[2])], (4, 13),
              inits=[init("w", w1), init("b", b1)])
    ref = conv_ref(x1[:, :, None, :], w1[:, :, None, :], b1, (1, 2), pads=(0, 1, 0, 2))[:, :, 0, :]
    ok("conv_1d", m, x1, ref, 1e-5)


# ------------------------------------------------------------------ dense

def dense_cases():
    r = rng(2)
    N = 3
    x = randn(r, N, 17)
    B, C = randn(r, 9, 17, scale=0.3), randn(r, 9)
    m = model([helper.make_node("Gemm", ["x", "B", "C"], ["y"], transB=1)], (17,), inits=[init("B", B), init("C", C)])
    ok("gemm_transB", m, x, x.astype(np.float64) @ B.T.astype(np.float64) + C, 1e-5)

    B2, C2 = randn(r, 17, 9, scale=0.3), randn(r, 1, 9)
    m = model([helper.make_node("Gemm", ["x", "B", "C"], ["y"], alpha=0.7, beta=1.3)], (17,),
              inits=[init("B", B2), init("C", C2)])
    ok("gemm_alpha_beta", m, x, 0.7 * (x.astype(np.float64) @ B2) + 1.3 * C2.astype(np.float64), 1e-5)

    m = model([helper.make_node("Gemm", ["x", "B", "c"], ["y"], beta=2.0, transB=1)], (17,),
              inits=[init("B", B), init("c", np.float32(0.25))])
    ok("gemm_scalar_c", m, x, x.astype(np.float64) @ B.T + 0.5, 1e-5)

    x3 = randn(r, N, 5, 17)
    W, bias = randn(r, 17, 9, scale=0.3), randn(r, 9)
    m = model([helper.make_node("MatMul", ["x", "W"], ["t"], name="mm"),
               helper.make_node("Add", ["t", "bias"], ["y"], name="mm_bias")], (5, 17),
              inits=[init("W", W), init("bias", bias)])
    ok("matmul_bias_rows", m, x3, x3.astype(np.float64) @ W + bias, 1e-5)

    m = model([helper.make_node("MatMul", ["x", "W"], ["y"])], (17,), inits=[init("W", W)])
    ok("matmul", m, x, x.astype(np.float64) @ W, 1e-5)

    # the MatMul output has a second reader: the Add is not fused (bias as a broadcast add)
    m = model([helper.make_node("MatMul", ["x", "W"], ["t"]), helper.make_node("Add", ["bias", "t"], ["u"]),
               helper.make_node("Mul", ["t", "u"], ["y"])], (17,), inits=[init("W", W), init("bias", bias)])
    t = x.astype(np.float64) @ W
    ok("matmul_add_unfused", m, x, t * (t + bias), 1e-5)


# ------------------------------------------------------------------ batch norm, activations

def bn_cases():
    r = rng(3)
    N = 3
    x = randn(r, N, 6, 5, 7)
    s, b, mu, var = randn(r, 6), randn(r, 6), randn(r, 6), (r.random(6) + 0.5).astype(np.float32)
    inits = [init("s", s), init("b", b), init("mu", mu), init("var", var)]

    def ref(x, eps):
        sh = (1, -1) + (1,) * (x.ndim - 2)
        return (x - mu.reshape(sh)) / np.sqrt(var.reshape(sh).astype(np.float64) + eps) * s.reshape(sh) + b.reshape(sh)

    m = model([helper.make_node("BatchNormalization", ["x", "s", "b", "mu", "var"], ["y"], epsilon=1e-3)], (6, 5, 7),
              inits=inits)
    ok("batchnorm", m, x, ref(x.astype(np.float64), 1e-3), 1e-5)
    x2 = randn(r, N, 6)
    m = model([helper.make_node("BatchNormalization", ["x", "s", "b", "mu", "var"], ["y"])], (6,), inits=inits)
    ok("batchnorm_1d", m, x2, ref(x2.astype(np.float64), 1e-5), 1e-5)
    # training-mode export form (opset 15): extra outputs nobody reads; running statistics apply
    m = model([helper.make_node("BatchNormalization", ["x", "s", "b", "mu", "var"], ["y", "rm", "rv"],
                                training_mode=1)], (6, 5, 7), inits=inits, opset=15)
    ok("batchnorm_training_outputs", m, x, ref(x.astype(np.float64), 1e-5), 1e-5)
    m = model([helper.make_node("BatchNormalization", ["x", "s", "b", "mu", "var"], ["t", "rm", "rv"],
                                training_mode=1), helper.make_node("Add", ["t", "rm"], ["y"])], (6, 1, 1),
              inits=inits, opset=15)
    bad("bad_batchnorm_training_output_read", m, "LSUV_ERROR_UNSUPPORTED", "training output")


def act_cases():
    r = rng(4)
    N = 3
    x = randn(r, N, 4, 5, 3, scale=2.0)
    xd = x.astype(np.float64)
    sig = lambda v: 1 / (1 + np.exp(-v))
    cases = [
        ("relu", "Relu", {}, np.maximum(xd, 0)),
        ("leaky_relu", "LeakyRelu", {"alpha": 0.2}, np.where(xd > 0, xd, 0.2 * xd)),
        ("elu", "Elu", {"alpha": 0.8}, np.where(xd > 0, xd, 0.8 * (np.exp(xd) - 1))),
        ("selu", "Selu", {}, 1.0507009873554805 * np.where(xd > 0, xd, 1.6732632423543772 * (np.exp(xd) - 1))),
        ("tanh", "Tanh", {}, np.tanh(xd)),
        ("sigmoid", "Sigmoid", {}, sig(xd)),
        ("hard_sigmoid", "HardSigmoid", {"alpha": 0.3, "beta": 0.4}, np.clip(0.3 * xd + 0.4, 0, 1)),
        ("hard_swish", "HardSwish", {}, xd * np.clip(xd / 6 + 0.5, 0, 1)),
        ("softplus", "Softplus", {}, np.log1p(np.exp(xd))),
        ("erf", "Erf", {}, erf(xd)),
    ]
    for name, op, attrs, ref in cases:
        m = model([helper.make_node(op, ["x"], ["y"], **attrs)], (4, 5, 3), opset=14)
        ok("act_" + name, m, x, ref, 2e-6 if op in ("Relu", "LeakyRelu") else 1e-5)
    slope = randn(r, 4, 1, 1, scale=0.3)
    m = model([helper.make_node("PRelu", ["x", "slope"], ["y"])], (4, 5, 3), inits=[init("slope", slope)])
    ok("act_prelu_channel", m, x, np.where(xd > 0, xd, slope.astype(np.float64) * xd), 1e-6)
    m = model([helper.make_node("PRelu", ["x", "slope"], ["y"])], (4, 5, 3), inits=[init("slope", [0.3])])
    ok("act_prelu_scalar", m, x, np.where(xd > 0, xd, np.float64(np.float32(0.3)) * xd), 1e-6)
    m = model([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])], (4, 5, 3),
              inits=[init("lo", np.float32(-0.5)), init("hi", np.float32(0.7))])
    ok("act_clip_inputs", m, x, np.clip(xd, np.float32(-0.5), np.float32(0.7)), 1e-6)
    m = model([helper.make_node("Clip", ["x", "", "hi"], ["y"])], (4, 5, 3), inits=[init("hi", np.float32(6))],
              opset=11)
    ok("act_clip_max_only", m, x * 4, np.minimum(xd * 4, 6), 1e-6)
    m = model([helper.make_node("Clip", ["x"], ["y"], min=0.0, max=6.0)], (4, 5, 3), opset=10)
    ok("act_clip_attrs_opset10", m, x * 4, np.clip(xd * 4, 0, 6), 1e-6)


# ------------------------------------------------------------------ elementwise binary

def binary_cases():
    r = rng(5)
    N = 3
    x = randn(r, N, 4, 5, 6)
    xd = x.astype(np.float64)
    # residual: two values of one shape
    m = model([helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Add", ["a", "x"], ["y"])], (4, 5, 6))
    ok("add_residual", m, x, np.maximum(xd, 0) + xd, 1e-6)
    # squeeze-excitation gate: value (N,C,H,W) * value (N,C,1,1)
    m = model([helper.make_node("GlobalAveragePool", ["x"], ["p"]), helper.make_node("Sigmoid", ["p"], ["g"]),
               helper.make_node("Mul", ["x", "g"], ["y"])], (4, 5, 6))
    gate = 1 / (1 + np.exp(-xd.mean(axis=(2, 3), keepdims=True)))
    ok("mul_se_gate", m, x, xd * gate, 1e-5)
    c = randn(r, 4, 1, 1)
    m = model([helper.make_node("Sub", ["c", "x"], ["y"])], (4, 5, 6), inits=[init("c", c)])
    ok("sub_const_first", m, x, c.astype(np.float64) - xd, 1e-6)
    d = randn(r, 6)
    m = model([helper.make_node("Mul", ["x", "d"], ["y"])], (4, 5, 6), inits=[init("d", d)])
    ok("mul_last_axis", m, x, xd * d, 1e-6)
    m = model([helper.make_node("Constant", [], ["k"], value=helper.make_tensor("kv", F, [], [1.7])),
               helper.make_node("Div", ["x", "k"], ["y"])], (4, 5, 6))
    ok("div_scalar_constant", m, x, xd / np.float64(np.float32(1.7)), 1e-6)
    e = randn(r, 1, 4, 5, 1)
    m = model([helper.make_node("Add", ["x", "e"], ["y"])], (4, 5, 6), inits=[init("e", e)])
    ok("add_broadcast_4d", m, x, xd + e, 1e-6)
    # value (N,4,1,6) op value (N,1,5,1): both broadcast
    m = model([helper.make_node("ReduceMean", ["x"], ["a"], axes=[2]), helper.make_node("ReduceMax", ["x"], ["b"],
                                                                                         axes=[1]),
               helper.make_node("ReduceMean", ["b"], ["b2"], axes=[3]), helper.make_node("Div", ["a", "b2"], ["y"])],
              (4, 5, 6))
    ok("div_two_way_broadcast", m, x, xd.mean(axis=2, keepdims=True) / xd.max(axis=1, keepdims=True).mean(
        axis=3, keepdims=True), 1e-5)
    # GELU as exporters write it: x * 0.5 * (1 + erf(x / sqrt(2)))
    x2 = randn(r, N, 13)
    m = model([helper.make_node("Div", ["x", "s2"], ["a"]), helper.make_node("Erf", ["a"], ["b"]),
               helper.make_node("Add", ["b", "one"], ["c"]), helper.make_node("Mul", ["x", "c"], ["d"]),
               helper.make_node("Mul", ["d", "half"], ["y"])], (13,),
              inits=[init("s2", np.float32(1.4142135)), init("one", np.float32(1)), init("half", np.float32(0.5))])
    x2d = x2.astype(np.float64)
    ok("gelu_pattern", m, x2, x2d * 0.5 * (1 + erf(x2d / np.float64(np.float32(1.4142135)))), 1e-5)


# ------------------------------------------------------------------ pooling

def pool_cases():
    r = rng(6)
    N = 3
    x = randn(r, N, 4, 11, 10)
    cases = [
        ("maxpool", "MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]), ("max", (3, 3), (2, 2),
                                                                                          (1, 1, 1, 1), False, False)),
        ("maxpool_ceil", "MaxPool", dict(kernel_shape=[3, 2], strides=[2, 2], ceil_mode=1),
         ("max", (3, 2), (2, 2), (0, 0, 0, 0), True, False)),
        ("maxpool_asym", "MaxPool", dict(kernel_shape=[2, 3], strides=[2, 1], pads=[0, 1, 1, 0]),
         ("max", (2, 3), (2, 1), (0, 1, 1, 0), False, False)),
        ("avgpool_exclude_pad", "AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
         ("avg", (3, 3), (2, 2), (1, 1, 1, 1), False, False)),
        ("avgpool_include_pad", "AveragePool",
         dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1),
         ("avg", (3, 3), (2, 2), (1, 1, 1, 1), False, True)),
        ("avgpool_ceil", "AveragePool", dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
         ("avg", (2, 2), (2, 2), (0, 0, 0, 0), True, False)),
        ("avgpool_asym_include_pad", "AveragePool",
         dict(kernel_shape=[3, 2], strides=[1, 2], pads=[1, 0, 0, 1], count_include_pad=1),
         ("avg", (3, 2), (1, 2), (1, 0, 0, 1), False, True)),
    ]
    for name, op, attrs, (kind, k, s, pads, ceil_mode, inc) in cases:
        m = model([helper.make_node(op, ["x"], ["y"], **attrs)], (4, 11, 10))
        ok(name, m, x, pool_ref(x, k, s, pads, kind, ceil_mode, inc), 1e-6)
    ph, pw = same_pads(11, 3, 2, 1, True), same_pads(10, 3, 2, 1, True)
    m = model([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")],
              (4, 11, 10))
    ok("maxpool_same_upper", m, x, pool_ref(x, (3, 3), (2, 2), (ph[0], pw[0], ph[1], pw[1]), "max"), 1e-6)
    xd = x.astype(np.float64)
    m = model([helper.make_node("GlobalAveragePool", ["x"], ["y"])], (4, 11, 10))
    ok("global_avgpool", m, x, xd.mean(axis=(2, 3), keepdims=True), 1e-6)
    m = model([helper.make_node("GlobalMaxPool", ["x"], ["y"])], (4, 11, 10))
    ok("global_maxpool", m, x, xd.max(axis=(2, 3), keepdims=True), 1e-6)
    x1 = randn(r, N, 4, 13)
    m = model([helper.make_node("GlobalAveragePool", ["x"], ["y"])], (4, 13))
    ok("global_avgpool_1d", m, x1, x1.astype(np.float64).mean(axis=2, keepdims=True), 1e-6)


# ------------------------------------------------------------------ shapes and data movement

def shape_cases():
    r = rng(7)
    N = 3
    x = randn(r, N, 4, 5, 6)
    xd = x.astype(np.float64)
    m = model([helper.make_node("Flatten", ["x"], ["y"])], (4, 5, 6))
    ok("flatten", m, x, xd.reshape(N, -1), 0)
    m = model([helper.make_node("Reshape", ["x", "s"], ["y"])], (4, 5, 6), inits=[ints("s", [0, -1, 6])])
    ok("reshape_copy_infer", m, x, xd.reshape(N, 20, 6), 0)
    # fixed batch 3 in the file: a literal 3 at axis 0 is the batch
    m = model([helper.make_node("Reshape", ["x", "s"], ["y"])], (4, 5, 6), inits=[ints("s", [3, 120])], batch=3)
    ok("reshape_fixed_batch", m, x, xd.reshape(N, 120), 0)
    # x.view(x.size(0), -1) as exporters write it: Shape -> Gather -> Unsqueeze -> Concat
    m = model([helper.make_node("Shape", ["x"], ["sh"]), helper.make_node("Gather", ["sh", "zero"], ["n"], axis=0),
               helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
               helper.make_node("Concat", ["n1", "minus1"], ["s"], axis=0),
               helper.make_node("Reshape", ["x", "s"], ["y"])], (4, 5, 6),
              inits=[ints("zero", 0), ints("ax0", [0]), ints("minus1", [-1])])
    ok("reshape_dynamic_batch", m, x, xd.reshape(N, -1), 0)
    # channel shuffle (torchvision shufflenet): shape arithmetic on H, W and C // groups
    xs = randn(r, N, 6, 5, 7)
    nodes = [helper.make_node("Shape", ["x"], ["sh"])]
    for i, nm in enumerate(["n", "c", "h", "w"]):
        nodes += [helper.make_node("Gather", ["sh", "i%d" % i], [nm], axis=0)]
    nodes += [helper.make_node("Div", ["c", "two"], ["cg"])]
    for nm in ["n", "cg", "h", "w", "c"]:
        nodes += [helper.make_node("Unsqueeze", [nm, "ax0"], [nm + "_u"])]
    nodes += [helper.make_node("Concat", ["n_u", "two_u", "cg_u", "h_u", "w_u"], ["s5"], axis=0),
              helper.make_node("Reshape", ["x", "s5"], ["r5"]),
              helper.make_node("Transpose", ["r5"], ["t5"], perm=[0, 2, 1, 3, 4]),
              helper.make_node("Concat", ["n_u", "c_u", "h_u", "w_u"], ["s4"], axis=0),
              helper.make_node("Reshape", ["t5", "s4"], ["y"])]
    inits = [ints("i%d" % i, i) for i in range(4)] + [ints("two", 2), ints("ax0", [0]), ints("two_u", [2])]
    m = model(nodes, (6, 5, 7), inits=inits)
    ref = xs.astype(np.float64).reshape(N, 2, 3, 5, 7).transpose(0, 2, 1, 3, 4).reshape(N, 6, 5, 7)
    ok("channel_shuffle", m, xs, ref, 0)
    m = model([helper.make_node("Transpose", ["x"], ["y"], perm=[0, 2, 3, 1])], (4, 5, 6))
    ok("transpose", m, x, xd.transpose(0, 2, 3, 1), 0)
    m = model([helper.make_node("Unsqueeze", ["x", "a"], ["u"]), helper.make_node("Squeeze", ["u", "b"], ["y"])],
              (4, 5, 6), inits=[ints("a", [2, -1]), ints("b", [5])])
    ok("unsqueeze_squeeze_13", m, x, xd.reshape(N, 4, 1, 5, 6), 0)
    m = model([helper.make_node("Unsqueeze", ["x"], ["u"], axes=[1]), helper.make_node("Squeeze", ["u"], ["y"],
                                                                                       axes=[1])], (4, 5, 6), opset=11)
    ok("unsqueeze_squeeze_11", m, x, xd, 0)
    m = model([helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Sigmoid", ["x"], ["b"]),
               helper.make_node("Concat", ["a", "b", "x"], ["y"], axis=1)], (4, 5, 6))
    ok("concat_channels", m, x, np.concatenate([np.maximum(xd, 0), 1 / (1 + np.exp(-xd)), xd], axis=1), 1e-6)
    m = model([helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Concat", ["x", "a"], ["y"], axis=-1)],
              (4, 5, 6))
    ok("concat_last_axis", m, x, np.concatenate([xd, np.maximum(xd, 0)], axis=-1), 0)
    m = model([helper.make_node("Split", ["x", "sp"], ["a", "b", "c"], axis=2),
               helper.make_node("Concat", ["c", "a"], ["y"], axis=2)], (4, 5, 6), inits=[ints("sp", [2, 2, 1])])
    ok("split_13", m, x, np.concatenate([xd[:, :, 4:], xd[:, :, :2]], axis=2), 0)
    m = model([helper.make_node("Split", ["x"], ["a", "b"], axis=-1), helper.make_node("Sub", ["a", "b"], ["y"])],
              (4, 5, 6), opset=11)
    ok("split_equal_11", m, x, xd[..., :3] - xd[..., 3:], 1e-6)
    m = model([helper.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["y"])], (4, 5, 6),
              inits=[ints("st", [1, -1, 0]), ints("en", [INT64_MAX, -100, 6]), ints("ax", [1, 3, 2]),
                     ints("sp", [2, -2, 2])])
    ok("slice_steps_clamp", m, x, xd[:, 1::2, 0:6:2, -1::-2], 0)
    m = model([helper.make_node("Pad", ["x", "p", "v"], ["y"])], (4, 5, 6),
              inits=[ints("p", [0, 1, 2, -1, 0, 0, 1, 3]), init("v", np.float32(0.5))])
    ref = np.pad(xd, ((0, 0), (1, 0), (2, 1), (0, 0)), constant_values=0.5)[:, :, :, 1:]
    ref = np.pad(ref, ((0, 0), (0, 0), (0, 0), (0, 3)), constant_values=0.5)
    ok("pad_constant_crop", m, x, ref, 0)
    m = model([helper.make_node("Pad", ["x"], ["y"], pads=[0, 0, 1, 1, 0, 0, 1, 1], value=-2.0)], (4, 5, 6), opset=10)
    ok("pad_attrs_opset10", m, x, np.pad(xd, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-2.0), 0)
    m = model([helper.make_node("Gather", ["x", "i"], ["y"], axis=2)], (4, 5, 6), inits=[ints("i", -2)])
    ok("gather_scalar", m, x, xd[:, :, -2], 0)
    m = model([helper.make_node("Gather", ["x", "i"], ["y"], axis=1)], (4, 5, 6), inits=[ints("i", [3, 1])])
    ok("gather_list", m, x, xd[:, [3, 1]], 0)
    m = model([helper.make_node("Dropout", ["x", "ratio"], ["a"]), helper.make_node("Identity", ["a"], ["b"]),
               helper.make_node("Cast", ["b"], ["y"], to=TensorProto.FLOAT)], (4, 5, 6),
              inits=[init("ratio", np.float32(0.3))])
    ok("dropout_identity_cast", m, x, xd, 0)


def reduce_cases():
    r = rng(8)
    N = 3
    x = randn(r, N, 4, 5, 6)
    xd = x.astype(np.float64)
    m = model([helper.make_node("ReduceMean", ["x"], ["y"], axes=[2, 3])], (4, 5, 6))
    ok("reduce_mean_keepdims", m, x, xd.mean(axis=(2, 3), keepdims=True), 1e-6)
    m = model([helper.make_node("ReduceMean", ["x"], ["y"], axes=[-1], keepdims=0)], (4, 5, 6))
    ok("reduce_mean_last", m, x, xd.mean(axis=3), 1e-6)
    m = model([helper.make_node("ReduceSum", ["x", "a"], ["y"], keepdims=0)], (4, 5, 6), inits=[ints("a", [1, 2])])
    ok("reduce_sum_13", m, x, xd.sum(axis=(1, 2)), 1e-6)
    m = model([helper.make_node("ReduceMax", ["x"], ["y"], axes=[1])], (4, 5, 6))
    ok("reduce_max", m, x, xd.max(axis=1, keepdims=True), 0)

    def softmax(v, axis):
        e = np.exp(v - v.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)

    x3 = randn(r, N, 4, 5, scale=3)
    x3d = x3.astype(np.float64)
    m = model([helper.make_node("Softmax", ["x"], ["y"], axis=1)], (4, 5))
    ok("softmax_axis1", m, x3, softmax(x3d, 1), 1e-5)
    m = model([helper.make_node("LogSoftmax", ["x"], ["y"])], (4, 5))
    ok("logsoftmax_last", m, x3, np.log(softmax(x3d, 2)), 1e-5)
    m = model([helper.make_node("Softmax", ["x"], ["y"], axis=1)], (4, 5), opset=11)
    ok("softmax_opset11_coerced", m, x3, softmax(x3d.reshape(N, 20), 1).reshape(N, 4, 5), 1e-5)


# ------------------------------------------------------------------ unsharing

def shared_cases():
    """Two convs read one bias (directly and through an Identity alias), a third conv
    reads the same weight as the second through an alias; a BN reads a merged
    initializer too. The outputs must be right, and the importer gives the LSUV layers
    their own copies (test_onnx checks the parameter names)."""
    r = rng(9)
    N = 3
    x = randn(r, N, 3, 7, 6)
    w1, w2 = randn(r, 4, 3, 3, 3, scale=0.3), randn(r, 4, 4, 1, 1, scale=0.3)
    zb = np.full(4, 0.1, np.float32)
    nodes = [helper.make_node("Identity", ["zb"], ["conv2.bias"], name="alias_b"),
             helper.make_node("Identity", ["w2"], ["conv3.weight"], name="alias_w"),
             helper.make_node("Conv", ["x", "w1", "zb"], ["a"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["a", "w2", "conv2.bias"], ["b"], name="conv2"),
             helper.make_node("Conv", ["b", "conv3.weight"], ["c"], name="conv3"),
             helper.make_node("Add", ["c", "zb4"], ["y"], name="shift")]
    zb4 = zb.reshape(4, 1, 1)
    m = model(nodes, (3, 7, 6), inits=[init("w1", w1), init("w2", w2), init("zb", zb), init("zb4", zb4)])
    a = conv_ref(x, w1, zb, pads=(1, 1, 1, 1))
    b = conv_ref(a, w2, zb)
    c = conv_ref(b, w2, None)
    ok("shared_initializers", m, x, c + zb4, 1e-5)
    a.tofile(os.path.join(OUT, "shared_initializers.conv1.ref"))  # an intermediate node's value
    manifest.append("node shared_initializers conv1 1e-5")


# ------------------------------------------------------------------ external data

def external_case():
    r = rng(10)
    N = 3
    x = randn(r, N, 3, 6, 5)
    w, b = randn(r, 5, 3, 3, 3, scale=0.3), randn(r, 5)
    m = model([helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])], (3, 6, 5),
              inits=[init("w", w), init("b", b)])
    set_output_shape(m, (N, 5, 6, 5))
    onnx.save_model(m, os.path.join(OUT, "external_data.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="external_data.bin", size_threshold=0)
    x.tofile(os.path.join(OUT, "external_data.in"))
    conv_ref(x, w, b, pads=(1, 1, 1, 1)).tofile(os.path.join(OUT, "external_data.ref"))
    manifest.append("ok external_data 1e-5 %d 3 3 6 5" % N)
    # the same, pointing at a file that is not there
    m2 = onnx.load(os.path.join(OUT, "external_data.onnx"), load_external_data=False)
    for t in m2.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = "missing_weights.bin"
    onnx.save(m2, os.path.join(OUT, "bad_external_missing.onnx"))
    manifest.append("bad bad_external_missing ANY missing_weights.bin")


# ------------------------------------------------------------------ malformed and unsupported

def bad_cases():
    r = rng(11)
    m = model([helper.make_node("Relu", ["x"], ["a"], name="r1"), helper.make_node("Sin", ["a"], ["y"], name="sine")],
              (4,))
    bad("bad_unsupported_op", m, "LSUV_ERROR_UNSUPPORTED", "node 'sine' (Sin)")
    m = model([helper.make_node("Add", ["x", "nowhere"], ["y"], name="adder")], (4,))
    bad("bad_undefined_input", m, "LSUV_ERROR_FORMAT", "'nowhere'")
    m = model([helper.make_node("Add", ["x", "b"], ["a"], name="n1"), helper.make_node("Relu", ["a"], ["b"], name="n2"),
               helper.make_node("Relu", ["a"], ["y"], name="n3")], (4,))
    bad("bad_cycle", m, "LSUV_ERROR_FORMAT", "cycle")
    m = model([helper.make_node("Add", ["x", "c"], ["y"], name="adder")], (4, 5), inits=[init("c", np.ones(7))])
    bad("bad_shapes_disagree", m, "LSUV_ERROR_SHAPE", "do not broadcast")
    m = model([helper.make_node("Conv", ["x", "w"], ["y"], name="cv")], (3, 6, 6),
              inits=[init("w", randn(r, 4, 2, 3, 3))])
    bad("bad_conv_channels", m, "LSUV_ERROR_SHAPE", "node 'cv' (Conv")
    m = model([helper.make_node("Reshape", ["x", "s"], ["y"], name="rs")], (4, 5), inits=[ints("s", [-1, 5])])
    bad("bad_reshape_mixes_batch", m, "LSUV_ERROR_UNSUPPORTED", "batch axis")
    m = model([helper.make_node("Transpose", ["x"], ["y"], name="tp", perm=[1, 0, 2])], (4, 5))
    bad("bad_transpose_batch", m, "LSUV_ERROR_UNSUPPORTED", "batch axis")
    m = model([helper.make_node("MaxPool", ["x"], ["y"], name="mp", kernel_shape=[3, 3], pads=[2, 0, 0, 0])], (2, 5, 5))
    bad("bad_pool_pads", m, "LSUV_ERROR_UNSUPPORTED", "exceed half of kernel")
    m = model([helper.make_node("Relu", ["x"], ["y"])], (4,), opset=13)
    m.opset_import[0].version = 19
    bad("bad_opset", m, "LSUV_ERROR_UNSUPPORTED", "opset 19")
    m = model([helper.make_node("Relu", ["x"], ["w"]), helper.make_node("Conv", ["x", "w"], ["y"], name="cw")],
              (2, 5, 5))
    bad("bad_computed_weight", m, "LSUV_ERROR_UNSUPPORTED", "initializer")
    m = model([helper.make_node("Relu", ["x"], ["y"])], (4,))
    data = m.SerializeToString()
    with open(os.path.join(OUT, "bad_truncated.onnx"), "wb") as f:
        f.write(data[:len(data) // 2])
    manifest.append("bad bad_truncated LSUV_ERROR_FORMAT bad_truncated.onnx")
    with open(os.path.join(OUT, "bad_not_protobuf.onnx"), "wb") as f:
        f.write(b"\xff\xfe this is not a protobuf message \x00\x01" * 8)
    manifest.append("bad bad_not_protobuf LSUV_ERROR_FORMAT bad_not_protobuf.onnx")


def main():
    conv_cases()
    dense_cases()
    bn_cases()
    act_cases()
    binary_cases()
    pool_cases()
    shape_cases()
    reduce_cases()
    shared_cases()
    external_case()
    bad_cases()
    with open(os.path.join(OUT, "manifest.txt"), "w") as f:
        f.write("\n".join(manifest) + "\n")


if __name__ == "__main__":
    main()
