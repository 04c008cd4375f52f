"""The PyTorch step runner: ``AUSM.step`` itself, the reference the other backends match.

``autocast`` (e.g. ``torch.bfloat16``) runs the frame under autocast: convolutions,
attention and the rest in bf16/fp16 while the SSM keeps its own fp32 region (ausm/ssm
disables autocast there), so the recurrent state stays fp32; the logits are handed back
as fp32, as every runner does."""

from typing import Optional

import torch


class TorchStepRunner:
    name = "torch"

    def __init__(self, model, autocast: Optional[torch.dtype] = None):
        self.model = model
        self.device = next(model.parameters()).device
        self.autocast = autocast

    def initial_state(self, hw):
        return self.model.initial_state(1, hw, self.device)

    def step(self, image, state, id_slots, id_masks, id_valid):
        if self.autocast is None:
            return self.model.step(image, state, id_slots, id_masks, id_valid)
        with torch.autocast(device_type=self.device.type, dtype=self.autocast):
            out, next_state = self.model.step(image, state, id_slots, id_masks, id_valid)
        bad = [t.dtype for t in next_state if t.dtype != torch.float32]
        if bad:
            raise RuntimeError(f"the recurrent state left fp32 under autocast ({bad})")
        as_fp32 = lambda v: {k: as_fp32(x) for k, x in v.items()} if isinstance(v, dict) else v.float()
        return {k: as_fp32(v) for k, v in out.items()}, next_state
