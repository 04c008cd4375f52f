"""Everything TensorRT-related that must degrade gracefully where TensorRT is absent.

TensorRT is imported only inside functions, never at module import: on machines without
it (CI, most desktops) the rest of the package works and asking for TensorRT raises
``TensorRTUnavailable`` naming exactly what is missing and how to get it.
"""

import ctypes
import os
import subprocess
import sys
from pathlib import Path

PLUGIN_LIBRARY = "libausm_trt_plugin.so"
PLUGIN_ENV = "AUSM_TRT_PLUGIN"


class TensorRTUnavailable(RuntimeError):
    """TensorRT (or something it needs: a CUDA build of PyTorch, a GPU) is missing."""


def import_tensorrt():
    try:
        import tensorrt
    except ImportError as e:
        raise TensorRTUnavailable(
            "the TensorRT backend needs NVIDIA TensorRT's Python package 'tensorrt', which is not "
            f"installed here ({e}). On Jetson it comes with JetPack (apt: python3-libnvinfer); "
            "elsewhere from NVIDIA (pip install tensorrt --extra-index-url https://pypi.nvidia.com). "
            "Without it use backend 'onnxruntime' or 'torch'."
        ) from e
    return tensorrt


def require_cuda_torch():
    """The TensorRT runtime keeps each stream's state in CUDA memory owned by PyTorch."""
    import torch

    if not torch.cuda.is_available():
        why = "this PyTorch build has no CUDA" if torch.version.cuda is None else "no CUDA device is visible"
        raise TensorRTUnavailable(
            f"the TensorRT backend needs a CUDA GPU through PyTorch: {why} (torch {torch.__version__})"
        )
    return torch


def gpu_identity(device_index=0):
    """(name, compute capability 'major.minor') of the GPU engines are built for: from
    PyTorch when it sees CUDA, else from nvidia-smi. Raises TensorRTUnavailable without a GPU."""
    try:
        import torch

        if torch.cuda.is_available():
            major, minor = torch.cuda.get_device_capability(device_index)
            return torch.cuda.get_device_name(device_index), f"{major}.{minor}"
    except Exception:  # a broken CUDA setup reads as "no GPU" below
        pass
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,compute_cap", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        rows = [r.split(",") for r in out.stdout.strip().splitlines() if r.strip()]
        if out.returncode == 0 and len(rows) > device_index:
            name, cc = (v.strip() for v in rows[device_index][:2])
            return name, cc
    except (OSError, subprocess.TimeoutExpired):
        pass
    raise TensorRTUnavailable(
        "no NVIDIA GPU found (neither PyTorch nor nvidia-smi sees one): "
        "TensorRT engines are built on, and for, the GPU that runs them"
    )


def plugin_search_paths():
    """Where the built plugin library is looked for, in order."""
    here = Path(__file__).resolve().parent / "plugin"
    paths = []
    if os.environ.get(PLUGIN_ENV):
        paths.append(Path(os.environ[PLUGIN_ENV]).expanduser())
    paths += [here / "build" / PLUGIN_LIBRARY, Path(sys.prefix) / "lib" / PLUGIN_LIBRARY]
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            paths.append(Path(prefix) / "lib" / PLUGIN_LIBRARY)
    return paths


def find_plugin_library():
    """The SelectiveStateUpdate plugin (.so) if one was built, else None."""
    return next((p for p in plugin_search_paths() if p.is_file()), None)


_loaded = {}


def load_plugin_library(path):
    """Load the plugin into this process (it registers itself with TensorRT's registry on
    load). Idempotent; the handle is kept so the library stays loaded."""
    path = str(Path(path).resolve())
    if path not in _loaded:
        try:
            _loaded[path] = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        except OSError as e:
            raise TensorRTUnavailable(f"cannot load the TensorRT plugin {path}: {e}") from e
    return _loaded[path]
