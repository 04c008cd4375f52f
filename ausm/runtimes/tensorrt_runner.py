"""The TensorRT step runner: a built engine (ausm/export/tensorrt_builder.py) on the GPU.

``TensorRTEngine`` deserialises one engine for the whole process; every stream gets its
own ``TensorRTStepRunner`` (an execution context is not shareable between threads) with
two sets of state buffers in GPU memory. Frame t reads set A and writes set B, frame t+1
reads B and writes A: the state never leaves the GPU and is never copied, and the set a
session still holds (the state before a frame) is never the one being written, so a
frame that fails leaves the session's state intact. The engine runs on PyTorch's
current CUDA stream, so the session's own GPU work on the outputs is ordered after it.

Outputs (logits) live in per-runner buffers valid until that runner's next ``step``;
StreamSession consumes them within the frame.
"""

import os
import threading
from typing import Optional, Tuple, Union

import torch

from ..export.engine_cache import EngineKey, read_sidecar
from ..export.onnx_export import file_sha256
from ..export.step_io import FRAME_INPUTS, STATE_IN, STATE_OUT, StepSpec, split_outputs
from ..export.tensorrt_support import (
    TensorRTUnavailable,
    find_plugin_library,
    import_tensorrt,
    load_plugin_library,
    require_cuda_torch,
)
from .base import State, StepOutputs


def _torch_dtype(trt, torch, dtype):
    table = {
        trt.float32: torch.float32,
        trt.float16: torch.float16,
        trt.int32: torch.int32,
        trt.int8: torch.int8,
        trt.bool: torch.bool,
    }
    if hasattr(trt, "int64"):
        table[trt.int64] = torch.int64
    if dtype not in table:
        raise TypeError(f"engine tensor type {dtype} has no PyTorch equivalent here")
    return table[dtype]


class TensorRTEngine:
    """One deserialised engine and the I/O description the runners need."""

    def __init__(self, engine_path: Union[str, os.PathLike], model: torch.nn.Module, device_index: int = 0):
        self.trt = import_tensorrt()
        self.torch = require_cuda_torch()
        meta = read_sidecar(engine_path)
        if not meta:
            raise ValueError(
                f"{engine_path} has no metadata file ({engine_path}.json): "
                "build engines with python -m ausm.export.tensorrt_builder"
            )
        self.key = EngineKey.from_dict(meta["key"])
        self.spec = StepSpec.from_metadata(meta["step"])
        if self.spec.state_names != model.state_names():
            raise ValueError(f"{engine_path} was built for another model (state {self.spec.state_names})")
        if self.key.plugin_sha256:
            self._load_plugin(meta.get("plugin_library"))
        self.model = model
        self.device = self.torch.device("cuda", device_index)
        self.logger = self.trt.Logger(self.trt.Logger.WARNING)
        self.trt.init_libnvinfer_plugins(self.logger, "")
        self.runtime = self.trt.Runtime(self.logger)  # must outlive the engine: kept here
        with open(engine_path, "rb") as f:
            self.engine = self.runtime.deserialize_cuda_engine(f.read())
        if self.engine is None:
            raise RuntimeError(
                f"TensorRT could not deserialise {engine_path} (built by TensorRT "
                f"{self.key.tensorrt_version} on {self.key.gpu_name}?)"
            )
        self.io = {}  # name -> (shape, torch dtype, is_input)
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            is_input = self.engine.get_tensor_mode(name) == self.trt.TensorIOMode.INPUT
            self.io[name] = (
                tuple(self.engine.get_tensor_shape(name)),
                _torch_dtype(self.trt, self.torch, self.engine.get_tensor_dtype(name)),
                is_input,
            )
        missing = set(self.spec.inputs + self.spec.outputs) - set(self.io)
        if missing:
            raise ValueError(f"{engine_path} lacks tensors {sorted(missing)}")

    def _load_plugin(self, recorded: Optional[str]) -> None:
        candidates = [p for p in (recorded, find_plugin_library()) if p]
        for path in candidates:
            try:
                if file_sha256(path) == self.key.plugin_sha256:
                    load_plugin_library(path)
                    return
            except OSError:
                continue
        raise TensorRTUnavailable(
            "the engine uses the SelectiveStateUpdate plugin, but no plugin "
            f"library with the same build was found (looked at {candidates}); "
            "rebuild the engine (force_rebuild) after rebuilding the plugin"
        )

    def stream_handle(self) -> int:
        """PyTorch's current CUDA stream: the engine runs in order with the session's GPU work."""
        return self.torch.cuda.current_stream(self.device).cuda_stream

    def new_runner(self) -> "TensorRTStepRunner":
        return TensorRTStepRunner(self)


class TensorRTStepRunner:
    name = "tensorrt"

    def __init__(self, engine: TensorRTEngine):
        torch = engine.torch
        self.engine, self.torch, self.spec = engine, torch, engine.spec
        self.device = engine.device
        self.config = engine.model.config
        # the TensorRT-RTX engine makes its contexts itself (with its runtime cache attached)
        self.name = getattr(engine, "runner_name", TensorRTStepRunner.name)
        make = getattr(engine, "create_context", None) or engine.engine.create_execution_context
        self.context = make()
        self._stepped = False
        if self.context is None:
            raise RuntimeError("TensorRT could not create an execution context (out of GPU memory?)")
        empty = lambda name: torch.empty(engine.io[name][0], dtype=engine.io[name][1], device=self.device)
        self._outputs = {n: empty(n) for n in self.spec.outputs if not n.startswith(STATE_OUT)}
        # the two state sets; set k is both an input set and an output set, by turns
        self._states = [[empty(STATE_IN + n) for n in self.spec.state_names] for _ in range(2)]
        self._lock = threading.Lock()

    def initial_state(self, hw: Tuple[int, int]) -> State:
        self._check_size(hw)
        return self.engine.model.initial_state(1, tuple(hw), self.device)

    def _check_size(self, hw):
        if tuple(hw) != tuple(self.spec.input_hw):
            h, w = self.spec.input_hw
            raise ValueError(f"the TensorRT engine was built for {h}x{w}, the frame is {hw[0]}x{hw[1]} at model input")

    def _state_set(self, state):
        """Index of our buffer set that *is* ``state`` (same memory), else None."""
        ptrs = [t.data_ptr() for t in state]
        for k, bufs in enumerate(self._states):
            if ptrs == [b.data_ptr() for b in bufs]:
                return k
        return None

    def step(
        self,
        image: torch.Tensor,
        state: State,
        id_slots: torch.Tensor,
        id_masks: torch.Tensor,
        id_valid: torch.Tensor,
    ) -> Tuple[StepOutputs, State]:
        self._check_size(image.shape[-2:])
        with self._lock:
            src = self._state_set(state)
            if src is None:
                # a state from elsewhere (first frame, restore, reset): copied in once, GPU to GPU
                src = 0
                for buf, t in zip(self._states[src], state):
                    buf.copy_(t, non_blocking=True)
            dst = 1 - src
            io = self.engine.io
            frame = {}
            for name, t in zip(FRAME_INPUTS, (image, id_slots, id_masks, id_valid)):
                frame[name] = t.to(self.device, io[name][1]).contiguous()
            for name, t in frame.items():
                self.context.set_tensor_address(name, t.data_ptr())
            for n, src_buf, dst_buf in zip(self.spec.state_names, self._states[src], self._states[dst]):
                self.context.set_tensor_address(STATE_IN + n, src_buf.data_ptr())
                self.context.set_tensor_address(STATE_OUT + n, dst_buf.data_ptr())
            for name, t in self._outputs.items():
                self.context.set_tensor_address(name, t.data_ptr())
            if not self.context.execute_async_v3(self.engine.stream_handle()):
                raise RuntimeError("TensorRT execution failed (see its log)")
            if not self._stepped:
                self._stepped = True
                hook = getattr(self.engine, "after_first_step", None)
                if hook is not None:  # TensorRT-RTX: keep the kernels just compiled
                    hook()
            names = list(self._outputs) + [STATE_OUT + n for n in self.spec.state_names]
            return split_outputs(names, list(self._outputs.values()) + list(self._states[dst]))
