"""lsuv_vk.init: LSUV of a PyTorch module through liblsuv-vk.

The module is exported to ONNX in memory with TrainingMode.PRESERVE while it is in eval
mode: batch norm stays a node (nothing is folded into the convs), nothing runs in train
mode (running statistics are not updated; StochasticDepth and Dropout are identities) and
every state_dict key is an initializer or an Identity over a merged one, so the values
the library computes map back to the module's own tensors by name. The module's
train/eval flags are restored afterwards, and its tensors change only when the whole run
succeeded.
"""
import contextlib
import ctypes
import io
import os
import re
import sys
import warnings
from dataclasses import dataclass

from ._native import Context, Error, _Data, _Options, _Report


@dataclass
class LayerReport:
    """One Conv/Linear layer as LSUV left it."""
    module: str           # module path, e.g. "layer1.0.conv1"
    kind: str             # "conv2d" or "dense"
    tries_measured: int   # variance measurements on data
    tries_computed: int   # variance updates derived in closed form (no forward)
    var_initial: float
    var_final: float
    scale: float          # product of all rescales
    status: str           # "ok", "max_tries" or "degenerate"
    node: str             # the ONNX node name


def _as_batches(batch, batches):
    """A list of CPU float32 numpy arrays (K batches of equal shape)."""
    import torch

    def first_tensor(item):
        if isinstance(item, torch.Tensor):
            return item
        if isinstance(item, (list, tuple)) and item and isinstance(item[0], torch.Tensor):
            return item[0]  # (inputs, labels) from a DataLoader
        if isinstance(item, dict):
            for v in item.values():
                if isinstance(v, torch.Tensor):
                    return v
        raise Error(f"a batch must be a tensor (or a tuple/list/dict holding one); got {type(item).__name__}")

    if isinstance(batch, torch.Tensor):
        if batches not in (None, 1):
            raise Error(f"batches={batches} needs a list of tensors or a DataLoader; got one tensor")
        items = [batch]
    elif isinstance(batch, (list, tuple)):
        items = [first_tensor(b) for b in batch]
        if batches is not None:
            if batches > len(items):
                raise Error(f"batches={batches} but only {len(items)} tensors were given")
            items = items[:batches]
    else:  # a DataLoader or any iterable of batches
        want = batches or 1
        items = []
        for item in batch:
            items.append(first_tensor(item))
            if len(items) == want:
                break
        if len(items) < want:
            raise Error(f"the data loader gave {len(items)} batches; batches={want} were asked for")
    if not items:
        raise Error("no batch given")
    shape = tuple(items[0].shape)
    for i, t in enumerate(items):
        if tuple(t.shape) != shape:
            raise Error(f"batch {i} has shape {tuple(t.shape)} but batch 0 has {shape}: batches must be alike "
                        "(drop_last=True on the DataLoader)")
    if len(shape) < 2:
        raise Error(f"a batch needs a batch axis and at least one feature axis; got shape {shape}")
    if len(shape) > 4:
        raise Error(f"batches of shape {shape}: at most 3 axes per sample are supported")
    if not items[0].is_floating_point():
        items = [t.float() for t in items]
    return [t.detach().to("cpu", torch.float32).contiguous().numpy() for t in items]


@contextlib.contextmanager
def _quiet_fds():
    """Silences stdout/stderr at the file-descriptor level: torch's exporter writes its
    verbose graph dump from C++ (verbose=True is what gives nodes scoped names)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def _export(model, example):
    """ONNX bytes of the model (PRESERVE from eval mode, batch axis symbolic)."""
    import torch
    flags = [(m, m.training) for m in model.modules()]
    buf = io.BytesIO()
    try:
        model.eval()
        with warnings.catch_warnings(), _quiet_fds(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (example,), buf, training=torch.onnx.TrainingMode.PRESERVE,
                              do_constant_folding=False, opset_version=13, verbose=True,
                              input_names=["input"], dynamic_axes={"input": {0: "N"}})
    except Exception as e:  # the exporter's own errors: nothing of the model changed
        raise Error(f"torch.onnx.export failed: {e}") from e
    finally:
        for m, t in flags:
            m.training = t
    return buf.getvalue()


def _module_of_node(model, node):
    """'/layer1/layer1.0/conv1/Conv' -> 'layer1.0.conv1' (scoped names of torch's exporter)."""
    parts = node.strip("/").split("/")
    return parts[-2] if len(parts) >= 2 else ""


def _explain(model, message):
    """Adds the module path (and class) of the ONNX node a library message names."""
    m = re.search(r"node '(/[^']*)'", message)
    if not m:
        return message
    path = _module_of_node(model, m.group(1))
    try:
        mod = model.get_submodule(path) if path else model
        return f"{message} [module '{path or '(root)'}', {type(mod).__name__}]"
    except AttributeError:
        return f"{message} [module '{path}']"


def init(model, batch, *, tol=0.1, t_max=10, measure="pre", batches=None, center=False, orthonormal=True,
         seed=0, device=None, verbose=False):
    """LSUV-initializes every Conv and Linear layer of `model` in place and returns the
    per-layer report (a list of LayerReport).

    batch: a tensor (one batch, any device), a list of tensors (several batches, used
    round-robin, one per try as in the paper) or a DataLoader (its first `batches`
    batches; (inputs, labels) pairs are fine). Options mirror lsuv_options: tol (on the
    variance, 0.1), t_max (10), measure ("pre": the layer's output before its
    activation; "post": after), center, orthonormal (orthonormal pre-init; False keeps
    the current weights), seed, device (None: the best Vulkan device; an index or a name
    substring). The new values land on the parameters' own device and dtype. On any
    error lsuv_vk.Error is raised and the model is left exactly as it was.
    """
    import numpy as np
    import torch

    if measure not in ("pre", "post"):
        raise Error(f"measure must be 'pre' or 'post'; got {measure!r}")
    arrays = _as_batches(batch, batches)
    K, B = len(arrays), arrays[0].shape[0]
    params = list(model.parameters())
    ref = params[0] if params else torch.empty(0)
    example = torch.from_numpy(arrays[0][: min(B, 2)]).to(device=ref.device, dtype=ref.dtype
                                                           if ref.is_floating_point() else torch.float32)
    onnx_bytes = _export(model, example)

    data_np = np.ascontiguousarray(np.concatenate(arrays, axis=0), dtype=np.float32)
    data = _Data()
    data.n = data_np.shape[0]
    data.ndim = data_np.ndim - 1
    for i, d in enumerate(data_np.shape[1:]):
        data.dims[i] = d
    data.values = data_np.ctypes.data_as(ctypes.POINTER(ctypes.c_float))

    state = model.state_dict(keep_vars=True)
    with Context(device) as ctx:
        lib = ctx.lib
        net = ctypes.c_void_p()
        st = lib.lsuv_net_load_onnx_memory(ctx.handle, onnx_bytes, len(onnx_bytes), None, ctypes.byref(net))
        if st != 0:
            msg = lib.lsuv_context_last_error(ctx.handle).decode(errors="replace")
            raise Error(_explain(model, f"the exported model: {msg}"), lib.lsuv_status_string(st).decode())
        try:
            opts = _Options()
            lib.lsuv_options_init(ctypes.byref(opts))
            opts.tol_var = float(tol)
            opts.t_max = int(t_max)
            opts.measure = 0 if measure == "pre" else 1
            opts.batch = int(B)
            opts.batches = int(K)
            opts.center = int(bool(center))
            opts.orthonormal = int(bool(orthonormal))
            opts.seed = int(seed)
            rep = ctypes.POINTER(_Report)()
            ctx.check(lib.lsuv_init(net, ctypes.byref(data), ctypes.byref(opts), ctypes.byref(rep)), "lsuv_init")
            try:
                layers, updates = _collect(lib, ctx, net, rep.contents, state, model)
                warning = rep.contents.warning.decode() if rep.contents.warning else None
            finally:
                lib.lsuv_report_free(rep)
        finally:
            lib.lsuv_net_destroy(net)

    # Every value was read and checked: only now does the model change.
    with torch.no_grad():
        for tensor, values in updates:
            tensor.copy_(torch.from_numpy(values).reshape(tensor.shape).to(device=tensor.device,
                                                                            dtype=tensor.dtype))
    if verbose:
        _print_table(layers, warning)
    return layers


def _collect(lib, ctx, net, rep, state, model):
    """The report as LayerReports and (state tensor, new values) for each LSUV layer's
    weight and bias; Error when a name has no state_dict entry."""
    import numpy as np
    names = {}
    for i in range(lib.lsuv_net_param_count(net)):
        name, numel = ctypes.c_char_p(), ctypes.c_int64()
        ctx.check(lib.lsuv_net_param_info(net, i, ctypes.byref(name), None, None, ctypes.byref(numel)),
                  "lsuv_net_param_info")
        names[name.value.decode()] = numel.value
    layers, updates = [], []
    for i in range(rep.layer_count):
        L = rep.layers[i]
        weight = L.weight.decode()
        module = weight[: -len(".weight")] if weight.endswith(".weight") else weight
        tensors = [weight]
        bias = module + ".bias"
        if weight.endswith(".weight") and bias in names:
            tensors.append(bias)
        for t in tensors:
            if t not in state:
                raise Error(_explain(model, f"layer {L.name.decode()}: tensor '{t}' of the exported model is not "
                                            "a state_dict key of the module; nothing was changed"))
            n = names[t]
            if state[t].numel() != n:
                raise Error(f"layer {L.name.decode()}: '{t}' has {n} values in the exported model but "
                            f"{state[t].numel()} in the module; nothing was changed")
            values = np.empty(n, dtype=np.float32)
            ctx.check(lib.lsuv_net_get_param(net, t.encode(), values.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                             n), f"reading {t}")
            updates.append((state[t], values))
        layers.append(LayerReport(module=module, kind=L.kind.decode(), tries_measured=L.tries_measured,
                                  tries_computed=L.tries_computed, var_initial=L.var_initial,
                                  var_final=L.var_final, scale=L.scale,
                                  status=lib.lsuv_layer_status_string(L.status).decode(), node=L.name.decode()))
    return layers, updates


def _print_table(layers, warning):
    w = max([len(l.module) for l in layers] + [6])
    print(f"{'module':<{w}}  {'kind':<6}  tries(m+c)  var_initial  var_final     scale  status")
    for l in layers:
        print(f"{l.module:<{w}}  {l.kind:<6}  {l.tries_measured:>4}+{l.tries_computed:<5}  {l.var_initial:11.4g}  "
              f"{l.var_final:9.4f}  {l.scale:8.4g}  {l.status}")
    if warning:
        print(f"warning: {warning}")
