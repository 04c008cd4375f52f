"""Step runners: one frame of AUSM through torch, onnxruntime, TensorRT or TensorRT-RTX.

A runner has ``name``, ``device``, ``initial_state(hw)`` and
``step(image, state, id_slots, id_masks, id_valid) -> (outputs, next_state)``, the
contract of ``AUSM.step``. ``stream_session(model, runner)`` puts one under the usual
StreamSession (prompts, IDs, results stay in ausm/session.py).
"""

from .onnxruntime_runner import OnnxRuntimeStepRunner, OnnxRuntimeUnavailable
from .session_adapter import RunnerModel, stream_session
from .tensorrt_rtx_runner import TensorRTRtxEngine
from .tensorrt_runner import TensorRTEngine, TensorRTStepRunner
from .torch_runner import TorchStepRunner

BACKENDS = ("torch", "onnxruntime", "tensorrt", "tensorrt_rtx")

__all__ = [
    "BACKENDS",
    "OnnxRuntimeStepRunner",
    "OnnxRuntimeUnavailable",
    "RunnerModel",
    "TensorRTEngine",
    "TensorRTRtxEngine",
    "TensorRTStepRunner",
    "TorchStepRunner",
    "stream_session",
]
