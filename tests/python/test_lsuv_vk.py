"""Tests of the PyTorch front end (python/lsuv_vk) on lavapipe.

Run by meson (tests/meson.build) with PYTHONPATH=python and LSUV_VK_LIBRARY set to the
built library. Every check is measured by PyTorch itself: forward hooks on each Conv/Linear
compute the population variance of the layer's output on the same batch.
"""
import copy
import unittest

import torch
import torch.nn as nn

import lsuv_vk

TOL = 0.1
# lsuv-vk stops when |Var - 1| < tol as measured in float32 on the device; PyTorch
# measures the same tensor again on the CPU: allow for float32 reduction differences.
SLACK = 2e-3


def layer_variances(model, x):
    """{module path: population variance of its output} for every Conv/Linear."""
    out, hooks = {}, []
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            # computed inside the hook: a following in-place ReLU has not run yet
            hooks.append(m.register_forward_hook(
                lambda mod, inp, o, name=name: out.__setitem__(name, o.detach().double().var(unbiased=False).item())))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return out


def lsuv_tensor_names(model):
    names = set()
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            names.add(f"{name}.weight")
            if m.bias is not None:
                names.add(f"{name}.bias")
    return names


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def mlp():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(37, 64), nn.GELU(), nn.Linear(64, 48), nn.SiLU(), nn.Linear(48, 10))


def fitnet_bn():
    torch.manual_seed(2)
    layers, c = [], 3
    for v in [16, 16, "M", 24, 24, "M", 32]:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
            c = v
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10)]
    return nn.Sequential(*layers)


class Odd(nn.Module):
    def forward(self, x):
        return torch.cumsum(x, 1)  # CumSum: not an operator lsuv-vk imports


class TestInit(unittest.TestCase):
    def check_model(self, model, x, measure="pre", **kw):
        before = snapshot(model)
        train_flags = [m.training for m in model.modules()]
        report = lsuv_vk.init(model, x, tol=TOL, measure=measure, **kw)
        self.assertEqual([m.training for m in model.modules()], train_flags)
        lsuv = lsuv_tensor_names(model)
        self.assertEqual({f"{r.module}.weight" for r in report}, {n for n in lsuv if n.endswith(".weight")})
        after = model.state_dict()
        for k, v in before.items():
            if k in lsuv:
                if k.endswith(".weight"):
                    self.assertFalse(torch.equal(v, after[k]), f"{k} was not changed")
            else:
                self.assertTrue(torch.equal(v, after[k]), f"{k} changed but is not an LSUV tensor")
        was = model.training
        model.eval()
        var = layer_variances(model, x[0] if isinstance(x, list) else x)
        model.train(was)
        if measure == "pre":
            for r in report:
                self.assertEqual(r.status, "ok", r)
                self.assertLess(abs(var[r.module] - 1), TOL + SLACK, f"{r.module}: PyTorch measures {var[r.module]}")
        return report

    def test_mlp(self):
        torch.manual_seed(10)
        self.check_model(mlp(), torch.randn(24, 37) * 3 + 1)

    def test_fitnet_batchnorm_inplace_relu(self):
        torch.manual_seed(11)
        model = fitnet_bn().train()  # flags restored: stays in train mode
        self.check_model(model, torch.randn(20, 3, 17, 19))

    def test_resnet18(self):
        import torchvision
        torch.manual_seed(12)
        self.check_model(torchvision.models.resnet18(num_classes=10).eval(), torch.randn(16, 3, 40, 40))

    def test_mobilenet_v2(self):
        import torchvision
        torch.manual_seed(13)
        self.check_model(torchvision.models.mobilenet_v2(num_classes=10).eval(), torch.randn(16, 3, 40, 40))

    def test_float64_stays_float64(self):
        torch.manual_seed(14)
        model = mlp().double()
        report = self.check_model(model, torch.randn(20, 37, dtype=torch.float64))
        self.assertTrue(all(p.dtype == torch.float64 for p in model.parameters()))
        self.assertEqual(len(report), 3)

    @unittest.skipUnless(torch.cuda.is_available(), "PyTorch has no CUDA device here")
    def test_cuda_parameters_stay_on_cuda(self):
        model = mlp().cuda()
        self.check_model(model, torch.randn(20, 37, device="cuda"))
        self.assertTrue(all(p.is_cuda for p in model.parameters()))

    def test_list_and_dataloader(self):
        torch.manual_seed(15)
        xs = [torch.randn(16, 37) for _ in range(3)]
        report = self.check_model(mlp(), xs, measure="post")
        self.assertTrue(all(r.tries_measured >= 1 for r in report))
        ds = torch.utils.data.TensorDataset(torch.randn(64, 37), torch.zeros(64))
        loader = torch.utils.data.DataLoader(ds, batch_size=16)
        model = mlp()
        lsuv_vk.init(model, loader, batches=2)

    def test_unsupported_layer_names_module_and_changes_nothing(self):
        model = nn.Sequential(nn.Linear(8, 6), nn.Sequential(nn.ReLU(), Odd()), nn.Linear(6, 3))
        before = snapshot(model)
        with self.assertRaises(lsuv_vk.Error) as e:
            lsuv_vk.init(model, torch.randn(16, 8))
        self.assertIn("CumSum", str(e.exception))
        self.assertIn("1.1", str(e.exception))
        self.assertEqual(e.exception.status, "LSUV_ERROR_UNSUPPORTED")
        for k, v in model.state_dict().items():
            self.assertTrue(torch.equal(before[k], v), k)

    def test_bad_arguments(self):
        model = mlp()
        before = snapshot(model)
        with self.assertRaises(lsuv_vk.Error):
            lsuv_vk.init(model, torch.randn(16, 37), measure="middle")
        with self.assertRaises(lsuv_vk.Error):
            lsuv_vk.init(model, [torch.randn(16, 37), torch.randn(8, 37)])
        bad = torch.randn(16, 37)
        bad[3, 5] = float("nan")
        with self.assertRaises(lsuv_vk.Error) as e:
            lsuv_vk.init(model, bad)
        self.assertEqual(e.exception.status, "LSUV_ERROR_BAD_DATA")
        for k, v in model.state_dict().items():
            self.assertTrue(torch.equal(before[k], v), k)

    def test_version_matches_library(self):
        import os
        import re
        from lsuv_vk import _native
        self.assertEqual(_native.library().lsuv_version_string().decode(), lsuv_vk.__version__)
        root = os.path.join(os.path.dirname(__file__), "..", "..")
        with open(os.path.join(root, "python", "pyproject.toml")) as f:
            self.assertIn(f'version = "{lsuv_vk.__version__}"', f.read())
        with open(os.path.join(root, "meson.build")) as f:
            self.assertRegex(f.read(), r"version : '%s'" % re.escape(lsuv_vk.__version__))


if __name__ == "__main__":
    unittest.main()
