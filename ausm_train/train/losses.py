"""Mask2Former-style set losses over a teacher-forced clip, all decoder layers at once.

Which query answers for which instance:
  * ID rows: fixed by teacher forcing. Row k at frame t answers for its instance
    while allocated: its mask where the instance is visible, "no object" where not.
  * detection rows: Hungarian matched per frame and layer to the instances that are
    detection targets there; unmatched rows answer "no object".

Terms (each summed over the supervised layers):
  objectness  sigmoid BCE of the class-agnostic head. It plays Mask2Former's
              "no object" class: unmatched detection rows are weighted by
              ``no_object_weight`` (most queries are empty; they would drown the rest),
              ID rows by 1 (an object leaving must be learned as firmly as one staying).
  class       cross-entropy of the clip's dataset head, on positives with a class.
  mask, dice  sigmoid BCE and Dice on sampled points, per positive pair, divided by
              the number of positives (averaged over processes under DDP).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F

from .matcher import HungarianMatcher
from .points import point_sample, uncertain_points


def dice_loss(logits, targets):
    """logits, targets [M, P] -> [M]"""
    p = logits.sigmoid()
    return 1 - (2 * (p * targets).sum(-1) + 1) / (p.sum(-1) + targets.sum(-1) + 1)


def _global_mean_count(n, device):
    """Positives per process, averaged over processes: every rank divides by the same
    number, so DDP's gradient average equals the single-process loss."""
    n = torch.tensor(float(n), device=device)
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(n)
        n = n / dist.get_world_size()
    return n.clamp(min=1.0)


class SetCriterion:
    def __init__(self, cfg):
        self.cfg = cfg
        self.matcher = HungarianMatcher(cfg.class_weight, cfg.mask_weight, cfg.dice_weight, cfg.match_points)

    def select_layers(self, outputs):
        """Deep supervision: every prediction (before the first decoder layer and after
        each); without it only the final one."""
        if self.cfg.deep_supervision:
            return outputs
        return {
            "mask_logits": outputs["mask_logits"][-1:],
            "objectness_logits": outputs["objectness_logits"][-1:],
            "class_logits": {k: v[-1:] for k, v in outputs["class_logits"].items()},
        }

    def first_id_layer(self, num_layers):
        """Index (into the supervised predictions) of the first one that trains ID rows."""
        if not self.cfg.deep_supervision:
            return 0
        return min(self.cfg.id_rows_from, num_layers - 1)

    def positives(self, outputs, targets, generator=None):
        """All (layer, clip, frame, query, instance) pairs with an object to predict, and
        the ID-row cells that must say "no object"."""
        L = outputs["mask_logits"].shape[0]
        m = self.matcher(outputs, targets, generator)
        # tracking: row k of clip b at frame t, for every layer
        alive = targets.track_valid & targets.annotated[:, :, None]  # [B, T, K]
        b, t, k = torch.nonzero(alive, as_tuple=True)
        inst = targets.track_instance[b, k]
        visible = targets.present[b, inst, t]
        layers = torch.arange(self.first_id_layer(L), L, device=b.device)
        L = len(layers)
        rep = lambda x: x.repeat(L)
        lay = layers.repeat_interleave(len(b))
        track_pos = (
            lay[rep(visible)],
            rep(b)[rep(visible)],
            rep(t)[rep(visible)],
            rep(k)[rep(visible)],
            rep(inst)[rep(visible)],
        )
        track_neg = (lay[~rep(visible)], rep(b)[~rep(visible)], rep(t)[~rep(visible)], rep(k)[~rep(visible)])
        pos = tuple(torch.cat([a, c]) for a, c in zip((m.layer, m.batch, m.frame, m.query, m.instance), track_pos))
        return pos, track_neg

    def __call__(self, outputs, targets, generator=None):
        cfg = self.cfg
        outputs = self.select_layers(outputs)
        mask_logits, obj_logits = outputs["mask_logits"], outputs["objectness_logits"]
        L, B, T, Q = obj_logits.shape
        K = targets.num_id_rows
        device = obj_logits.device
        (lay, b, t, q, inst), (nl, nb, nt, nk) = self.positives(outputs, targets, generator)

        # objectness: every detection row of an annotated frame, every allocated ID row
        weight = torch.zeros(L, B, T, Q, device=device)
        weight[..., K:] = cfg.no_object_weight
        weight = weight * targets.annotated[None, :, :, None]
        label = torch.zeros_like(weight)
        weight[lay, b, t, q] = 1.0
        label[lay, b, t, q] = 1.0
        weight[nl, nb, nt, nk] = 1.0
        bce = F.binary_cross_entropy_with_logits(obj_logits.float(), label, reduction="none")
        loss_obj = ((bce * weight).flatten(1).sum(1) / weight.flatten(1).sum(1).clamp(min=1e-6)).sum()

        # normalise by the final prediction's positives (earlier ones may have fewer:
        # see id_rows_from), so each layer weighs like Mask2Former's per-layer losses
        final = lay == L - 1
        num_pos = _global_mean_count(int(final.sum()), device)
        # class: per layer, the mean cross-entropy over positives that have a class
        cats = targets.categories[b, inst]
        clip_head = [targets.datasets[i] for i in range(B)]
        ce_sum, ce_count = obj_logits.new_zeros((), dtype=torch.float32), 0  # count: final layer
        for name, logits in outputs["class_logits"].items():
            in_head = torch.tensor([h == name for h in clip_head], dtype=torch.bool, device=device)
            sel = (cats >= 0) & in_head[b]
            if sel.any():
                ce_sum = ce_sum + F.cross_entropy(
                    logits[lay[sel], b[sel], t[sel], q[sel]].float(), cats[sel], reduction="sum"
                )
                ce_count += int((sel & final).sum())
        loss_cls = ce_sum / max(ce_count, 1)

        if len(lay):
            pred = mask_logits[lay, b, t, q].unsqueeze(1).float()  # [M, 1, h, w]
            coords = uncertain_points(pred, cfg.num_points, cfg.oversample_ratio, cfg.importance_ratio, generator)
            p = point_sample(pred, coords)[:, 0]
            with torch.no_grad():
                tgt = point_sample(targets.masks[b, inst, t].unsqueeze(1).float(), coords)[:, 0]
            loss_mask = F.binary_cross_entropy_with_logits(p, tgt, reduction="none").mean(1).sum() / num_pos
            loss_dice = dice_loss(p, tgt).sum() / num_pos
        else:  # keep every output in the graph, so DDP sees the same parameters used
            loss_mask = loss_dice = mask_logits.sum() * 0.0

        parts = {"objectness": loss_obj, "class": loss_cls, "mask": loss_mask, "dice": loss_dice}
        total = (
            cfg.objectness_weight * loss_obj
            + cfg.class_weight * loss_cls
            + cfg.mask_weight * loss_mask
            + cfg.dice_weight * loss_dice
        )
        return total, {k: float(v.detach()) for k, v in parts.items()} | {"positives": int(final.sum())}
