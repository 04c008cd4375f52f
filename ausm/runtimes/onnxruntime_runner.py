"""The onnxruntime step runner: the exported step (ausm/export/onnx_export.py) on CPU.

The ``ausm::SelectiveStateUpdate`` nodes run through the function stored in the file,
so no custom-op library is needed. One ``InferenceSession`` per input size serves every
stream (``run`` is thread-safe and the runner keeps no per-stream state: the state
travels in and out of each call).
"""

import os
import threading
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ..export.step_io import FRAME_INPUTS, STATE_IN, StepSpec, split_outputs
from .base import State, StepOutputs


class OnnxRuntimeUnavailable(RuntimeError):
    pass


def import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as e:
        raise OnnxRuntimeUnavailable(
            f"the onnxruntime backend needs the 'onnxruntime' package ({e}); pip install onnxruntime"
        ) from e
    return onnxruntime


def _numpy(t):
    return np.ascontiguousarray(t.detach().cpu().numpy())


class OnnxRuntimeStepRunner:
    """``source``: an .onnx path exported for one input size, or a callable hw -> path
    (e.g. ``functools.partial(cached_step_onnx, model)``) for sizes known only at the
    first frame."""

    name = "onnxruntime"

    def __init__(
        self,
        model: torch.nn.Module,
        source: Union[str, os.PathLike, Callable[[Tuple[int, int]], Union[str, os.PathLike]]],
        num_threads: int = 0,
        providers: Optional[Sequence[str]] = None,
    ):
        self.ort = import_onnxruntime()
        self.model = model
        self.config = model.config
        self.device = torch.device("cpu")
        self.num_threads = int(num_threads)
        self.providers = list(providers or ["CPUExecutionProvider"])
        self._source = source
        self._sessions: Dict[Tuple[int, int], tuple] = {}  # input hw -> (session, spec, output names)
        self._lock = threading.Lock()
        if not callable(source):
            self._load(source)

    def _load(self, path):
        spec = StepSpec.from_onnx(path)
        opts = self.ort.SessionOptions()
        opts.graph_optimization_level = self.ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.num_threads > 0:
            opts.intra_op_num_threads = self.num_threads
        # idle workers sleep instead of spinning: the node shares the CPU with the rest of
        # the robot (and spinning workers would slow whatever runs next, torch included)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sess = self.ort.InferenceSession(str(path), opts, providers=self.providers)
        names = [o.name for o in sess.get_outputs()]
        if sorted(names) != sorted(spec.outputs):
            raise ValueError(f"{path}: outputs {names} do not match its metadata {spec.outputs}")
        if spec.state_names != self.model.state_names():
            raise ValueError(f"{path} was exported for another model (state {spec.state_names})")
        self._sessions[tuple(spec.input_hw)] = (sess, spec, names)
        return self._sessions[tuple(spec.input_hw)]

    def _session_for(self, hw):
        with self._lock:
            if hw in self._sessions:
                return self._sessions[hw]
            if not callable(self._source):
                have = ", ".join(f"{h}x{w}" for h, w in self._sessions)
                raise ValueError(f"the ONNX step was exported for {have}, the frame is {hw[0]}x{hw[1]} at model input")
            return self._load(self._source(hw))

    def initial_state(self, hw: Tuple[int, int]) -> State:
        return self.model.initial_state(1, tuple(hw), self.device)

    def step(
        self,
        image: torch.Tensor,
        state: State,
        id_slots: torch.Tensor,
        id_masks: torch.Tensor,
        id_valid: torch.Tensor,
    ) -> Tuple[StepOutputs, State]:
        sess, spec, names = self._session_for(tuple(image.shape[-2:]))
        feeds = dict(
            zip(
                FRAME_INPUTS,
                (_numpy(image.float()), _numpy(id_slots.long()), _numpy(id_masks.float()), _numpy(id_valid.bool())),
            )
        )
        for name, t in zip(spec.state_names, state):
            feeds[STATE_IN + name] = _numpy(t.float())
        values = sess.run(names, feeds)
        return split_outputs(names, [torch.from_numpy(v) for v in values])
