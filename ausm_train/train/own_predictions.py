"""Training on the model's own predictions (against exposure bias).

Under teacher forcing an ID row always reads the ground-truth mask of the previous
frame, but while streaming it reads its own last prediction: after one bad frame it
meets a history it never saw in training, and errors compound (measured: ~0.11 mask
IoU lost between teacher-forced and streamed outputs on the same clips).

The parallel form is kept (no frame-by-frame unroll): a first pass without gradients
under the teacher-forced history gives every ID row's prediction on every frame; from
the frame after its switch on, each row's history is replaced by that prediction, made
the way ``ausm.session`` makes it (mask logit > 0, kept only while the row's objectness
says present), and the training pass reads that history against the same ground-truth
targets. The switch frame keeps its prompt or detection mark. This is the one-step
approximation of scheduled sampling for parallel decoders (the prediction itself was
made from a teacher-forced history); repeated over training it covers the error the
model actually makes.
"""

from __future__ import annotations

import torch

from ausm import History
from ausm.session import SessionSettings

_SESSION = SessionSettings()  # the thresholds the session marks history with


@torch.no_grad()
def own_prediction_history(
    out: dict,
    history: History,
    mask_threshold: float = _SESSION.mask_threshold,
    presence_threshold: float = _SESSION.presence_threshold,
    keep_marks: bool = False,
) -> History:
    """``out``: the model's outputs for ``history`` (``forward_clip`` layout, last layer
    used); returns a History whose ID masks after each row's first valid frame are the
    model's own binarised, presence-gated predictions of the previous frame. With
    ``keep_marks`` a row predicted absent passes on the mark it read instead of nothing,
    as the session does with history propagation on."""
    K = history.id_slots.shape[-1]
    if K == 0:
        return history
    logits = out["mask_logits"][-1][:, :, :K].float()  # [B, T, K, h, w]: ID rows come first
    present = out["objectness_logits"][-1][:, :, :K].float().sigmoid() > presence_threshold
    fg = logits > mask_threshold
    seen = present & fg.flatten(3).any(3)
    pred = (fg & seen[..., None, None]).to(history.id_masks.dtype)
    if keep_marks:
        pred = torch.where(seen[..., None, None], pred, history.id_masks)
    previous = torch.cat([torch.zeros_like(pred[:, :1]), pred[:, :-1]], dim=1)
    # frames strictly after the row's first valid (switch) frame
    after_switch = history.id_valid.long().cumsum(dim=1) >= 2
    masks = torch.where(after_switch[..., None, None], previous, history.id_masks)
    return History(history.id_slots, masks * history.id_valid[..., None, None], history.id_valid, history.id_current)
