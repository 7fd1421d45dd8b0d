#!/usr/bin/python3
"""PyTorch exports for the ONNX importer's tests, written into OUTDIR with PyTorch's own
float64 forward as reference (same file layout and manifest format as gen_models.py:
OUTDIR/manifest_torch.txt). Without torch/torchvision the manifest says "skip ..." and the
C test logs that instead of running these cases.

Models (seeded, freshly initialized; small inputs to keep lavapipe fast):
  resnet18 and mobilenet_v2 (torchvision) at 3x64x64, batch 3, exported
    - with training=PRESERVE from eval mode (batch norm kept, state_dict names; random
      running statistics so batch norm is not the identity), dynamic batch;
    - in the default eval mode (batch norm folded into the convs; the all-zero folded
      biases merged into one initializer read through Identity nodes), fixed batch 3;
  an MLP with GELU and SiLU;
  a model applying one Linear twice (one initializer read by two Gemms).
For the LSUV check (check_lsuv_torch.py) NAME.lsuv.in holds a larger batch.
"""
import os
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else "."
os.makedirs(OUT, exist_ok=True)
MANIFEST = os.path.join(OUT, "manifest_torch.txt")

try:
    import numpy as np
    import torch
    import torchvision
except Exception as e:  # noqa: BLE001 - any import failure means "no torch here"
    with open(MANIFEST, "w") as f:
        f.write("skip PyTorch exports: %s\n" % str(e).replace("\n", " "))
    sys.exit(0)

lines = []


def export(name, model, x, training, dynamic, opset=13):
    model.eval()
    path = os.path.join(OUT, name + ".onnx")
    kw = {}
    if dynamic:
        kw["dynamic_axes"] = {"input": {0: "N"}, "output": {0: "N"}}
    torch.onnx.export(model, x, path, input_names=["input"], output_names=["output"], opset_version=opset,
                      training=training, do_constant_folding=True, **kw)
    with torch.no_grad():
        ref = model.double()(x.double()).numpy()
    model.float()
    x.numpy().astype(np.float32).tofile(os.path.join(OUT, name + ".in"))
    ref.astype(np.float64).tofile(os.path.join(OUT, name + ".ref"))
    lines.append("ok %s 1e-4 %d %d %s" % (name, x.shape[0], x.dim() - 1, " ".join(str(d) for d in x.shape[1:])))


def randomize_bn(model, gen):
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) * 0.5 + 0.75)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(37, 64), torch.nn.GELU(), torch.nn.Linear(64, 48),
                                       torch.nn.SiLU(), torch.nn.Linear(48, 10))

    def forward(self, x):
        return self.net(x)


class Twice(torch.nn.Module):
    """One Linear applied twice: its weight and bias are one initializer read by two Gemms."""

    def __init__(self):
        super().__init__()
        self.inp = torch.nn.Linear(19, 24)
        self.shared = torch.nn.Linear(24, 24)
        self.out = torch.nn.Linear(24, 5)

    def forward(self, x):
        h = torch.tanh(self.inp(x))
        h = torch.tanh(self.shared(h))
        h = torch.tanh(self.shared(h))
        return self.out(h)


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, 3, 64, 64, generator=gen)
    for arch in ["resnet18", "mobilenet_v2"]:
        torch.manual_seed(2)
        model = getattr(torchvision.models, arch)(weights=None)
        model.eval()
        randomize_bn(model, gen)
        export(arch + "_preserve", model, x, torch.onnx.TrainingMode.PRESERVE, True)
        torch.manual_seed(2)
        fresh = getattr(torchvision.models, arch)(weights=None)
        export(arch + "_eval", fresh, x, torch.onnx.TrainingMode.EVAL, False)
        # a larger batch for the LSUV check, same normalization as ImageNet-like inputs
        torch.randn(24, 3, 64, 64, generator=gen).numpy().tofile(os.path.join(OUT, arch + "_preserve.lsuv.in"))
    torch.manual_seed(3)
    export("mlp_gelu_silu", MLP(), torch.randn(5, 37, generator=gen), torch.onnx.TrainingMode.EVAL, True)
    torch.manual_seed(4)
    export("linear_applied_twice", Twice(), torch.randn(7, 19, generator=gen), torch.onnx.TrainingMode.EVAL, True)
    with open(MANIFEST, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
