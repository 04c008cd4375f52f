"""The one interface every backend implements: a frame through the network, the state in and out.

``StreamSession`` (ausm/session.py) owns everything else about a stream (prompts, IDs,
history masks, results, snapshots) and asks its runner for exactly this: the model's
``config``, the ``device`` its tensors live on, ``initial_state`` and ``step``, the
contract of ``AUSM.step`` for one stream (batch 1). Torch, onnxruntime, TensorRT and
TensorRT-RTX each implement it (ausm/runtimes/*_runner.py), so every backend shares one
implementation of the stream semantics.
"""

from typing import Any, Dict, List, Protocol, Tuple, runtime_checkable

import torch

from ..config import ModelConfig

State = List[torch.Tensor]  # the recurrent state, in AUSM.state_names() order
# "mask_logits" [1, Q, H/4, W/4], "objectness_logits" [1, Q], "class_logits" {head: [1, Q, C]}
StepOutputs = Dict[str, Any]


@runtime_checkable
class StepRunner(Protocol):
    name: str  # the backend: "torch", "onnxruntime", "tensorrt", "tensorrt_rtx"
    config: ModelConfig
    device: torch.device  # where the state and the outputs live

    def initial_state(self, hw: Tuple[int, int]) -> State:
        """The state before the first frame of a stream at model input size ``hw``."""
        ...

    def step(
        self,
        image: torch.Tensor,
        state: State,
        id_slots: torch.Tensor,
        id_masks: torch.Tensor,
        id_valid: torch.Tensor,
    ) -> Tuple[StepOutputs, State]:
        """One frame: image [1, 3, H, W] RGB in [0, 1]; id_slots [1, K] long; id_masks
        [1, K, H/4, W/4] (previous frame's masks or prompts); id_valid [1, K] bool.
        Returns (outputs, next state); the state passed in is left as it was."""
        ...
