"""The PyTorch step runner: ``AUSM.step`` itself, the reference the other backends match.

``autocast`` (e.g. ``torch.bfloat16``) runs the frame under autocast: convolutions,
attention and the rest in bf16/fp16 while the SSM keeps its own fp32 region (ausm/ssm
disables autocast there), so the recurrent state stays fp32; the logits are handed back
as fp32, as every runner does. One runner can serve any number of streams (it keeps no
per-stream state). ``model`` is an ``AUSM``, or anything with its ``config``,
``initial_state(batch, hw, device)`` and ``step`` (the tests' scripted stand-ins).
"""

from typing import Optional, Tuple

import torch
import torch.nn as nn

from .base import State, StepOutputs


class TorchStepRunner:
    name = "torch"

    def __init__(self, model: nn.Module, autocast: Optional[torch.dtype] = None):
        self.model = model.eval()
        self.config = model.config
        self.device = next(model.parameters()).device
        self.autocast = autocast

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
        if self.autocast is None:
            return self.model.step(image, state, id_slots, id_masks, id_valid)
        with torch.autocast(device_type=self.device.type, dtype=self.autocast):
            out, next_state = self.model.step(image, state, id_slots, id_masks, id_valid)
        bad = [t.dtype for t in next_state if t.dtype != torch.float32]
        if bad:
            raise RuntimeError(f"the recurrent state left fp32 under autocast ({bad})")
        as_fp32 = lambda v: {k: as_fp32(x) for k, x in v.items()} if isinstance(v, dict) else v.float()
        return {k: as_fp32(v) for k, v in out.items()}, next_state
