"""The TensorRT-RTX step runner: an engine from ausm/export/tensorrt_rtx.py on an RTX GPU.

Same runner as full TensorRT (``TensorRTStepRunner``: an execution context and two fp32
state buffer sets on the GPU per stream, swapped each frame, never copied to the host);
what differs is the engine: TensorRT-RTX compiles its kernels just in time on the first
run, so every context shares one *runtime cache*, loaded from the file beside the engine
at start and written back (atomically) after a stream's first frame and on ``close``.
A cache made on another GPU or driver is rejected by TensorRT-RTX and simply rebuilt.
"""

import logging
import os
import threading
from pathlib import Path
from typing import Dict, Optional, Union

import torch

from ..export.engine_cache import read_sidecar
from ..export.step_io import StepSpec
from ..export.tensorrt_rtx import (
    RtxEngineKey,
    TensorRTRtxUnavailable,
    atomic_write,
    check_engine_io,
    dtype_name,
    import_tensorrt_rtx,
    normalize_cc,
    runtime_cache_path,
)
from ..export.tensorrt_support import require_cuda_torch
from .tensorrt_runner import TensorRTStepRunner, _torch_dtype

log = logging.getLogger(__name__)


def engine_io(engine, trt) -> Dict:
    """{name: (shape, dtype, is_input)} of a deserialised engine, in check_engine_io's terms."""
    io = {}
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        io[name] = (
            tuple(int(d) for d in engine.get_tensor_shape(name)),
            dtype_name(trt, engine.get_tensor_dtype(name)),
            engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT,
        )
    return io


class TensorRTRtxEngine:
    """One deserialised TensorRT-RTX engine per process; ``new_runner()`` per stream."""

    runner_name = "tensorrt_rtx"

    def __init__(
        self,
        engine_path: Union[str, os.PathLike],
        model: torch.nn.Module,
        device_index: int = 0,
        check_target: bool = True,
    ):
        """``check_target=False`` tries the engine on a GPU outside its targets (Hopper, say),
        to see what TensorRT-RTX does there (bench/gpu_suite.py); never in the node."""
        self.trt = trt = import_tensorrt_rtx()
        self.torch = torch = require_cuda_torch()
        self.engine_path = Path(engine_path)
        meta = read_sidecar(engine_path)
        if not meta or "io" not in meta:
            raise ValueError(
                f"{engine_path} has no TensorRT-RTX metadata file ({engine_path}.json): "
                "build engines with python -m ausm.export.tensorrt_rtx"
            )
        self.key = RtxEngineKey.from_dict(meta["key"])
        self.spec = StepSpec.from_metadata(meta["step"])
        if self.spec.state_names != model.state_names():
            raise ValueError(f"{engine_path} was built for another model (state {self.spec.state_names})")
        self.device = torch.device("cuda", device_index)
        self.gpu_name = torch.cuda.get_device_name(device_index)
        self.cc = normalize_cc(torch.cuda.get_device_capability(device_index))
        if check_target and self.cc not in self.key.targets:
            raise TensorRTRtxUnavailable(
                f"{engine_path.name} was built for compute capabilities {', '.join(self.key.targets)}; "
                f"this GPU ({self.gpu_name}) is {self.cc}. Rebuild with --targets current on an RTX GPU; "
                "Hopper (9.0) and Jetson are not TensorRT-RTX targets (use backend 'tensorrt' or 'torch')"
            )
        self.model = model
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)  # must outlive the engine: kept here
        with torch.cuda.device(self.device):
            self.engine = self.runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if self.engine is None:
            raise RuntimeError(
                f"TensorRT-RTX could not deserialise {engine_path} (built by "
                f"TensorRT-RTX {self.key.tensorrt_rtx_version}, this is {trt.__version__})"
            )
        found = engine_io(self.engine, trt)
        recorded = {k: (tuple(v[0]), v[1], v[2]) for k, v in meta["io"].items()}
        check_engine_io(found, recorded)  # the file is the one its sidecar describes
        self.io = {
            name: (shape, _torch_dtype(trt, torch, self.engine.get_tensor_dtype(name)), is_in)
            for name, (shape, _, is_in) in found.items()
        }
        # one runtime cache for every context: kernels compiled for one stream serve all
        self.cache_path = runtime_cache_path(self.engine_path, self.gpu_name, self.cc)
        self.runtime_config = self.engine.create_runtime_config()
        self.runtime_cache = self.runtime_config.create_runtime_cache()
        self.cache_loaded = False
        if self.cache_path.is_file():
            self.cache_loaded = bool(self.runtime_cache.deserialize(self.cache_path.read_bytes()))
            if not self.cache_loaded:
                log.warning(
                    "runtime cache %s was made on another GPU, driver or TensorRT-RTX: "
                    "kernels are compiled again and the cache rewritten",
                    self.cache_path,
                )
        self.runtime_config.set_runtime_cache(self.runtime_cache)
        self._save_lock = threading.Lock()

    def create_context(self) -> object:
        """An execution context sharing this engine's runtime cache."""
        return self.engine.create_execution_context(self.runtime_config)

    def stream_handle(self) -> int:
        return self.torch.cuda.current_stream(self.device).cuda_stream

    def save_runtime_cache(self) -> Optional[Path]:
        """Write the runtime cache beside the engine (atomically: a crash leaves the old one)."""
        with self._save_lock:
            blob = self.runtime_cache.serialize()
            if blob is None or not blob.nbytes:
                return None
            return atomic_write(self.cache_path, bytes(blob))

    def after_first_step(self) -> None:
        self.torch.cuda.current_stream(self.device).synchronize()
        try:
            self.save_runtime_cache()
        except OSError as e:  # a read-only cache directory costs start-up time, not frames
            log.warning("could not write the runtime cache %s: %s", self.cache_path, e)

    def close(self) -> None:
        """Write the runtime cache (kernels compiled so far) beside the engine."""
        self.after_first_step()

    def new_runner(self) -> TensorRTStepRunner:
        return TensorRTStepRunner(self)
