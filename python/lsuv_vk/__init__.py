"""lsuv_vk - LSUV initialization (Mishkin & Matas, 2015) of PyTorch models on any Vulkan
device (AMD, Intel, NVIDIA GPUs, Mesa's lavapipe on the CPU), through liblsuv-vk.

    import lsuv_vk
    report = lsuv_vk.init(model, batch)   # weights of every Conv/Linear set in place

See lsuv_vk.init for the options; errors are raised as lsuv_vk.Error.
"""
__version__ = "0.2.0"  # the C library's version; checked when the library is loaded

from ._native import Error  # noqa: E402
from ._torch import LayerReport, init  # noqa: E402

__all__ = ["init", "Error", "LayerReport", "__version__"]
