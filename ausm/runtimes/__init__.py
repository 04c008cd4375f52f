"""Backends: one frame of AUSM through torch, onnxruntime, TensorRT or TensorRT-RTX.

Every backend implements ``StepRunner`` (ausm/runtimes/base.py: ``name``, ``config``,
``device``, ``initial_state(hw)``, ``step(image, state, id_slots, id_masks, id_valid)``);
``StreamSession(runner)`` (ausm/session.py) runs a stream on any of them, so prompts, IDs
and results are the same whatever computes the frame.

``open(checkpoint, backend, device)`` picks and loads a backend (with the fallbacks
described in ausm/runtimes/loading.py) and returns a ``Runtime``: ``new_runner()`` /
``new_session(settings)`` per stream.

The runner classes are imported on first use (``from ausm.runtimes import
OnnxRuntimeStepRunner`` works), so importing this package loads neither onnx nor
onnxruntime nor TensorRT.
"""

import importlib

from .base import State, StepOutputs, StepRunner
from .loading import (
    AUTO,
    BACKENDS,
    Runtime,
    backend_unavailable_reason,
    bundled_checkpoint,
    open,
    resolve_backend,
    resolve_checkpoint,
    resolve_device,
)
from .torch_runner import TorchStepRunner

_LAZY = {
    "OnnxRuntimeStepRunner": "onnxruntime_runner",
    "OnnxRuntimeUnavailable": "onnxruntime_runner",
    "TensorRTEngine": "tensorrt_runner",
    "TensorRTStepRunner": "tensorrt_runner",
    "TensorRTRtxEngine": "tensorrt_rtx_runner",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AUTO",
    "BACKENDS",
    "OnnxRuntimeStepRunner",
    "OnnxRuntimeUnavailable",
    "Runtime",
    "State",
    "StepOutputs",
    "StepRunner",
    "TensorRTEngine",
    "TensorRTRtxEngine",
    "TensorRTStepRunner",
    "TorchStepRunner",
    "backend_unavailable_reason",
    "bundled_checkpoint",
    "open",
    "resolve_backend",
    "resolve_checkpoint",
    "resolve_device",
]
