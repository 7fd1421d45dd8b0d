#!/usr/bin/env python3
"""Train a small conv net on Fashion-MNIST after LSUV initialization by lsuv-vk.

    PYTHONPATH=python LSUV_VK_LIBRARY=build/lib/liblsuv-vk.so /usr/bin/python3 \
        examples/train_fashion_mnist.py [--epochs 1] [--train-samples 12000] [--device lavapipe]

Reads Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist). One call does
the initialization; the rest is ordinary PyTorch.
"""
import argparse
import gzip
import os
import time

import numpy as np
import torch
import torch.nn as nn

import lsuv_vk

DATA = os.environ.get("FASHION_MNIST", "/usr/share/datasets/fashion-mnist")


def load_idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def net():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 256), nn.ReLU(inplace=True), nn.Linear(256, 10))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--train-samples", type=int, default=12000)
    ap.add_argument("--device", default=None, help="Vulkan device for LSUV (index or name substring)")
    args = ap.parse_args()

    x = torch.from_numpy(load_idx("train-images-idx3-ubyte.gz")[: args.train_samples].copy()).float().div(255)
    y = torch.from_numpy(load_idx("train-labels-idx1-ubyte.gz")[: args.train_samples].astype(np.int64))
    xt = torch.from_numpy(load_idx("t10k-images-idx3-ubyte.gz").copy()).float().div(255)
    yt = torch.from_numpy(load_idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))
    mean, std = x.mean(), x.std()
    x, xt = ((x - mean) / std).unsqueeze(1), ((xt - mean) / std).unsqueeze(1)

    torch.manual_seed(0)
    model = net()
    t0 = time.perf_counter()
    lsuv_vk.init(model, x[:256], device=args.device, verbose=True)
    print(f"lsuv_vk.init: {time.perf_counter() - t0:.2f} s")

    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=128, shuffle=True)
    for epoch in range(args.epochs):
        model.train()
        for i, (xb, yb) in enumerate(loader):
            loss = nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if i % 20 == 0:
                print(f"epoch {epoch} step {i:4d} loss {loss.item():.4f}")
        model.eval()
        with torch.no_grad():
            acc = (model(xt).argmax(1) == yt).float().mean().item()
        print(f"epoch {epoch}: test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
