"""A training-only auxiliary loss that teaches the history path to carry *where* each
tracked object is.

Trained from scratch, the model learns to ignore its history: the marks enter the
compressor weak, the history decoder's cross-attention starts out near uniform and
smears them over the whole map, and the ID rows can lower their loss on appearance
alone, so the gradient never sharpens the path (measured on the demo model: 0.2% of
the ID rows' mask logits depended on the history after 100 steps). This probe reads
G_t, the history decoder's output, and asks it directly: for each allocated ID, which
1/8 cells hold that object in the current frame? Scored as the dot product of the ID
vector with a linear map of G_t, so it also pulls ID vectors apart. The probe's one
linear layer lives in the trainer, not in the model: checkpoints are unchanged.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class HistoryProbe(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self._captured = None
        self._hook = None

    def attach(self, model):
        """Capture the history decoder's output on every forward pass of ``model``."""

        def keep(module, inputs, output):
            self._captured = output

        self._hook = model.history_decoder.register_forward_hook(keep)

    def loss(self, model, history, targets):
        g = self._captured
        self._captured = None
        B, T, K = history.id_slots.shape
        alive = history.id_valid & targets.annotated[:, :, None]  # [B, T, K]
        if g is None or K == 0 or not alive.any():
            return self.proj.weight.sum() * 0.0
        H, W = targets.masks.shape[-2:]
        h, w = model.feature_size((H, W))
        g = self.proj(g.float()).view(B, T, h * w, -1)
        ids = model.id_buffer(history.id_slots).float()  # [B, T, K, D]
        logits = torch.einsum("btnd,btkd->btkn", g, ids) / math.sqrt(ids.shape[-1])
        inst = targets.track_instance.clamp(min=0)  # [B, K]
        cur = targets.masks[torch.arange(B, device=inst.device)[:, None], inst]  # [B, K, T, H, W]
        cur = F.adaptive_avg_pool2d(cur.transpose(1, 2).flatten(0, 2).float(), (h, w))
        target = cur.view(B, T, K, h * w)
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(-1)
        return (bce * alive).sum() / alive.sum()
