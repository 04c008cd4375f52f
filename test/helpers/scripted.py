"""A scripted stand-in for a StepRunner, for session tests whose model behaviour must be exact."""

import torch

from ausm import load_config


class ScriptedRunner:
    """A subclass says, per frame, which mask-grid pixels each row (ID rows first, then
    detection rows) marks as foreground; a row with any foreground is present."""

    name = "scripted"
    device = torch.device("cpu")

    def __init__(self, **config):
        self.config = load_config("tiny", **config)
        self.t = 0  # frames stepped so far

    def initial_state(self, hw):
        return [torch.zeros(1)]

    def rows(self, id_masks: torch.Tensor, id_valid: torch.Tensor) -> torch.Tensor:
        """id_masks [1, S, h, w], id_valid [1, S] -> bool [S + num_det_queries, h, w]."""
        raise NotImplementedError

    def step(self, image, state, id_slots, id_masks, id_valid):
        rows = self.rows(id_masks, id_valid)
        self.t += 1
        out = {
            "mask_logits": torch.where(rows, 5.0, -5.0)[None],
            "objectness_logits": torch.where(rows.flatten(1).any(1), 5.0, -5.0)[None],
            "class_logits": {"synthetic": torch.zeros(1, rows.shape[0], 6)},
        }
        return out, state
