#!/usr/bin/env python3
"""check_torch_load.py MODEL FILE [ACT] [--data X.npy] - loads an lsuv-vk safetensors file into the PyTorch
definition of MODEL with load_state_dict(strict=False) and checks that every weight, bias
and batch-norm buffer of the model was provided with the right shape (nothing missing,
nothing unexpected). Reads safetensors itself (the safetensors package is optional). With --data (the batch
LSUV ran on, pre-activation mode), PyTorch's own forward must measure every conv/linear
output variance within 0.1 of 1: the architectures agree, not just the names."""
import json, struct, sys
import numpy as np
import torch, torch.nn as nn

ACTS = {'relu': nn.ReLU, 'tanh': nn.Tanh, 'sigmoid': nn.Sigmoid, 'leaky_relu': lambda: nn.LeakyReLU(0.01),
        'vlrelu': lambda: nn.LeakyReLU(1 / 3.), 'elu': nn.ELU, 'gelu': nn.GELU, 'silu': nn.SiLU}

def read_safetensors(path):
    with open(path, 'rb') as f:
        blob = f.read()
    (n,) = struct.unpack('<Q', blob[:8])
    header = json.loads(blob[8:8 + n])
    data, out = blob[8 + n:], {}
    for name, t in header.items():
        if name == '__metadata__':
            continue
        b, e = t['data_offsets']
        dtype = {'F32': np.float32, 'I64': np.int64}[t['dtype']]
        out[name] = torch.from_numpy(np.frombuffer(data[b:e], dtype=dtype).copy().reshape(t['shape']))
    return out

def build(name, act):
    if name == 'mlp20':  # 20 x (Linear, act), Linear(1024, 10)
        layers, c = [], 784
        for _ in range(20):
            layers += [nn.Linear(c, 1024), ACTS[act or 'tanh']()]
            c = 1024
        return nn.Sequential(*layers, nn.Linear(c, 10))
    if name == 'fitnet4':
        layers, c = [], 3
        for v in [32, 32, 32, 48, 48, 'M', 80, 80, 80, 80, 80, 'M', 128, 128, 128, 128, 128, 'G']:
            if v == 'M':
                layers.append(nn.MaxPool2d(2))
            elif v == 'G':
                layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten()]
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), ACTS[act or 'relu']()]
                c = v
        return nn.Sequential(*layers, nn.Linear(c, 500), nn.ReLU(), nn.Linear(500, 10))
    import torchvision
    return getattr(torchvision.models, name)()

def check_variances(model, path):
    x = torch.from_numpy(np.load(path))
    if isinstance(model[0] if isinstance(model, nn.Sequential) else None, nn.Linear):
        x = x.reshape(x.shape[0], -1)
    seen = []
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.register_forward_hook(lambda mod, i, o, name=name: seen.append((name, o.var(unbiased=False).item())))
    with torch.no_grad():
        model.eval()(x)
    bad = [(n, v) for n, v in seen if abs(v - 1) >= 0.1]
    if bad:
        sys.exit(f'PyTorch measures variances off 1: {bad[:5]}')
    print(f'ok: PyTorch measures all {len(seen)} conv/linear output variances within 0.1 of 1 '
          f'(range {min(v for _, v in seen):.4f} .. {max(v for _, v in seen):.4f})')

def main():
    args = [a for a in sys.argv[1:]]
    data = None
    if '--data' in args:
        i = args.index('--data')
        data = args[i + 1]
        del args[i:i + 2]
    name, path = args[0], args[1]
    act = args[2] if len(args) > 2 else None
    model, tensors = build(name, act), read_safetensors(path)
    expected = model.state_dict()
    for k, v in tensors.items():
        if k in expected and tuple(expected[k].shape) != tuple(v.shape):
            sys.exit(f'{k}: shape {tuple(v.shape)} but the model has {tuple(expected[k].shape)}')
    result = model.load_state_dict(tensors, strict=False)
    if result.missing_keys or result.unexpected_keys:
        sys.exit(f'missing {result.missing_keys[:5]} unexpected {result.unexpected_keys[:5]}')
    for k, v in model.state_dict().items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            sys.exit(f'{k} has non-finite values')
    print(f'ok: {len(tensors)} tensors of {path} load into {name} (strict=False: nothing missing or unexpected)')
    if data:
        check_variances(model, data)

if __name__ == '__main__':
    main()
