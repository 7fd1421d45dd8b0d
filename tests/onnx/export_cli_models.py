#!/usr/bin/env python3
"""export_cli_models.py OUT_DIR [MODEL ...] - PyTorch exports and data for check_onnx_cli.sh.

Writes, for each model asked (default: resnet18):
  <model>_preserve.onnx  torchvision model exported from eval mode with
                         training=TrainingMode.PRESERVE (batch norm and every state_dict
                         name kept; merged tensors reach their users through Identity)
  <model>_eval.onnx      the default (eval-mode) export: batch norm folded, tensors merged
and batch.npy: a seeded float32 batch for the model's input size. Random weights (no
download), seeded. vgg16 is exported at 224x224 (for the size/memory measurement), the
others at 64x64 to keep the suite fast.
"""
import sys

import numpy as np
import torch
import torchvision


def export(name, out_dir):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    size = 224 if name == "vgg16" else 64
    x = torch.from_numpy(np.random.default_rng(1).standard_normal((4, 3, size, size)).astype(np.float32))
    np.save(f"{out_dir}/batch_{size}.npy", x.numpy())
    with torch.no_grad():
        torch.onnx.export(model, x, f"{out_dir}/{name}_preserve.onnx", opset_version=13,
                          training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
        if name != "vgg16":
            torch.onnx.export(model, x, f"{out_dir}/{name}_eval.onnx", opset_version=13)


def main():
    out_dir = sys.argv[1]
    for name in sys.argv[2:] or ["resnet18"]:
        export(name, out_dir)


if __name__ == "__main__":
    main()
