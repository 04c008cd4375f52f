"""Learning-rate schedule: linear warm-up, then cosine or step decay, as a multiplier
of the base rate (for torch's LambdaLR, whose state_dict then resumes it exactly)."""

import dataclasses
import math
from types import SimpleNamespace


def lr_factor(step, total_steps, cfg):
    if step < cfg.warmup_steps:
        a = step / max(1, cfg.warmup_steps)
        return cfg.warmup_factor + (1 - cfg.warmup_factor) * a
    if cfg.decay == "cosine":
        span = max(1, total_steps - cfg.warmup_steps)
        progress = min(1.0, (step - cfg.warmup_steps) / span)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    if cfg.decay == "step":
        return cfg.gamma ** sum(step >= m for m in cfg.milestones)
    return 1.0


class LRSchedule:
    """Picklable callable for LambdaLR. It keeps plain numbers, not the config object:
    LambdaLR saves a callable's attributes in its state_dict, and the checkpoint is read
    back with torch.load(weights_only=True), which accepts only plain types."""

    def __init__(self, total_steps, cfg):
        self.total_steps = int(total_steps)
        self.params = dataclasses.asdict(cfg)

    def __call__(self, step):
        return lr_factor(step, self.total_steps, SimpleNamespace(**self.params))
