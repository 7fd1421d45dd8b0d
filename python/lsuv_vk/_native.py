"""ctypes bindings of the parts of liblsuv-vk (include/lsuv.h) the PyTorch front end uses.

The library is found, in order: $LSUV_VK_LIBRARY; a liblsuv-vk.so* next to this package
(what `pip install` of a wheel with the library copied in gives); the build tree of a source
checkout (build/lib); the system's library path. No compiled extension is involved.
"""
import ctypes
import ctypes.util
import glob
import os

from . import __version__


class Error(RuntimeError):
    """A failure reported by liblsuv-vk, or a model the front end cannot handle.

    `status` is the library's status name (e.g. 'LSUV_ERROR_UNSUPPORTED') or None."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


def _candidates():
    env = os.environ.get("LSUV_VK_LIBRARY")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    yield from sorted(glob.glob(os.path.join(here, "liblsuv-vk.so*")))
    tree = os.path.join(os.path.dirname(os.path.dirname(here)), "build", "lib", "liblsuv-vk.so")
    yield tree
    found = ctypes.util.find_library("lsuv-vk")
    if found:
        yield found
    yield "liblsuv-vk.so.0"


class _Data(ctypes.Structure):  # lsuv_data
    _fields_ = [("n", ctypes.c_int64), ("ndim", ctypes.c_int), ("dims", ctypes.c_int64 * 3),
                ("values", ctypes.POINTER(ctypes.c_float))]


class _Options(ctypes.Structure):  # lsuv_options; tail space for fields added later
    _fields_ = [("tol_var", ctypes.c_double), ("t_max", ctypes.c_int), ("measure", ctypes.c_int),
                ("batch", ctypes.c_int), ("batches", ctypes.c_int), ("center", ctypes.c_int),
                ("orthonormal", ctypes.c_int), ("seed", ctypes.c_uint64), ("progress", ctypes.c_void_p),
                ("progress_user", ctypes.c_void_p), ("_tail", ctypes.c_uint8 * 512)]


class _ContextOptions(ctypes.Structure):  # lsuv_context_options; tail space as above
    _fields_ = [("device_index", ctypes.c_int), ("device_name", ctypes.c_char_p),
                ("_tail", ctypes.c_uint8 * 512)]


class _LayerReport(ctypes.Structure):  # lsuv_layer_report
    _fields_ = [("name", ctypes.c_char_p), ("kind", ctypes.c_char_p), ("tries_measured", ctypes.c_int),
                ("tries_computed", ctypes.c_int), ("var_initial", ctypes.c_double),
                ("var_final", ctypes.c_double), ("mean_final", ctypes.c_double), ("scale", ctypes.c_double),
                ("final_batch", ctypes.c_int), ("status", ctypes.c_int), ("weight", ctypes.c_char_p)]


class _Report(ctypes.Structure):  # lsuv_report
    _fields_ = [("layer_count", ctypes.c_int), ("layers", ctypes.POINTER(_LayerReport)),
                ("time_fill_s", ctypes.c_double), ("time_orthonormalize_s", ctypes.c_double),
                ("time_forward_s", ctypes.c_double), ("time_moments_s", ctypes.c_double),
                ("time_total_s", ctypes.c_double), ("flops_executed", ctypes.c_double),
                ("flops_forward", ctypes.c_double), ("samples_per_batch", ctypes.c_int64),
                ("batches", ctypes.c_int), ("warning", ctypes.c_char_p)]


def _declare(lib):
    P, I, C = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
    sigs = {
        "lsuv_version_string": (C, []),
        "lsuv_status_string": (C, [I]),
        "lsuv_context_options_init": (None, [ctypes.POINTER(_ContextOptions)]),
        "lsuv_context_create": (I, [ctypes.POINTER(_ContextOptions), ctypes.POINTER(P), ctypes.c_char_p,
                                    ctypes.c_size_t]),
        "lsuv_context_destroy": (None, [P]),
        "lsuv_context_last_error": (C, [P]),
        "lsuv_net_load_onnx_memory": (I, [P, ctypes.c_char_p, ctypes.c_size_t, C, ctypes.POINTER(P)]),
        "lsuv_net_destroy": (None, [P]),
        "lsuv_net_param_count": (I, [P]),
        "lsuv_net_param_info": (I, [P, I, ctypes.POINTER(C), ctypes.POINTER(I), ctypes.POINTER(ctypes.c_int64),
                                    ctypes.POINTER(ctypes.c_int64)]),
        "lsuv_net_get_param": (I, [P, C, ctypes.POINTER(ctypes.c_float), ctypes.c_int64]),
        "lsuv_options_init": (None, [ctypes.POINTER(_Options)]),
        "lsuv_init": (I, [P, ctypes.POINTER(_Data), ctypes.POINTER(_Options), ctypes.POINTER(ctypes.POINTER(_Report))]),
        "lsuv_report_free": (None, [ctypes.POINTER(_Report)]),
        "lsuv_layer_status_string": (C, [I]),
    }
    for name, (res, args) in sigs.items():
        f = getattr(lib, name)
        f.restype = res
        f.argtypes = args


_lib = None


def library():
    """The loaded liblsuv-vk (loaded once); Error when it cannot be found or its version differs."""
    global _lib
    if _lib is not None:
        return _lib
    tried = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path}: {e}")
            continue
        try:
            _declare(lib)
        except AttributeError as e:
            raise Error(f"{path} lacks a function this package needs ({e}); is it an older liblsuv-vk?")
        version = lib.lsuv_version_string().decode()
        if version != __version__:
            raise Error(f"{path} is liblsuv-vk {version} but this package is {__version__}; "
                        "set LSUV_VK_LIBRARY to a matching library")
        _lib = lib
        return lib
    raise Error("liblsuv-vk not found; build it (scripts/setup) and set LSUV_VK_LIBRARY=/path/to/liblsuv-vk.so. "
                "Tried: " + "; ".join(tried))


class Context:
    """An lsuv_context on one Vulkan device (device: None, an index, or a name substring)."""

    def __init__(self, device=None):
        lib = library()
        self.lib = lib
        opts = _ContextOptions()
        lib.lsuv_context_options_init(ctypes.byref(opts))
        if isinstance(device, int):
            opts.device_index = device
        elif device is not None:
            self._name = str(device).encode()
            opts.device_name = self._name
        err = ctypes.create_string_buffer(1024)
        handle = ctypes.c_void_p()
        st = lib.lsuv_context_create(ctypes.byref(opts), ctypes.byref(handle), err, len(err))
        if st != 0:
            raise Error(err.value.decode(errors="replace") or "no Vulkan device",
                        lib.lsuv_status_string(st).decode())
        self.handle = handle

    def check(self, st, what):
        if st != 0:
            msg = self.lib.lsuv_context_last_error(self.handle).decode(errors="replace")
            raise Error(f"{what}: {msg}" if msg else what, self.lib.lsuv_status_string(st).decode())

    def close(self):
        if self.handle:
            self.lib.lsuv_context_destroy(self.handle)
            self.handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
