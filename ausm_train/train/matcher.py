"""Hungarian matching of detection queries to detection targets, per frame and per
decoder layer, on Mask2Former's costs: class (objectness probability, plus the
target-class probability where the dataset has classes), mask sigmoid-BCE and Dice,
both on randomly sampled points shared by all pairs.

Only detection rows take part: ID rows have their target fixed by teacher forcing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from .points import point_sample, random_points


def pairwise_bce(logits, targets):
    """logits [..., Q, P], targets [..., N, P] in [0, 1] -> mean BCE of every pair [..., Q, N]."""
    pos, neg = F.softplus(-logits), F.softplus(logits)
    cost = pos @ targets.transpose(-1, -2) + neg @ (1 - targets).transpose(-1, -2)
    return cost / logits.shape[-1]


def pairwise_dice(logits, targets):
    """Dice loss of every (prediction, target) pair, [..., Q, N]."""
    p = logits.sigmoid()
    inter = 2 * p @ targets.transpose(-1, -2)
    total = p.sum(-1)[..., :, None] + targets.sum(-1)[..., None, :]
    return 1 - (inter + 1) / (total + 1)


def assign(cost):
    """Minimum-cost one-to-one assignment of a [Q, N] cost (Q >= N is the usual case).
    Returns (query indices, target indices) as int64 arrays."""
    if cost.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows, cols = linear_sum_assignment(cost)
    return rows.astype(np.int64), cols.astype(np.int64)


@dataclass
class Matches:
    """Matched (layer, clip, frame, query, instance) tuples, query indexed in the full
    [ID rows; detection rows] list."""

    layer: torch.Tensor
    batch: torch.Tensor
    frame: torch.Tensor
    query: torch.Tensor
    instance: torch.Tensor


class HungarianMatcher:
    def __init__(self, class_weight=2.0, mask_weight=5.0, dice_weight=5.0, num_points=1024):
        self.class_weight, self.mask_weight, self.dice_weight = class_weight, mask_weight, dice_weight
        self.num_points = num_points

    @torch.no_grad()
    def clip_costs(self, mask_logits, objectness, class_logits, masks, categories, generator=None):
        """Costs of one clip for every layer and frame.
        mask_logits [L, T, Qd, h, w]; objectness [L, T, Qd]; class_logits [L, T, Qd, C] or None;
        masks [N, T, H, W] bool; categories [N] -> cost [L, T, Qd, N]."""
        L, T, Qd = mask_logits.shape[:3]
        N = masks.shape[0]
        coords = random_points(1, self.num_points, mask_logits.device, generator)
        pred = point_sample(mask_logits.float().reshape(1, L * T * Qd, *mask_logits.shape[-2:]), coords)
        tgt = point_sample(masks.float().reshape(1, N * T, *masks.shape[-2:]), coords)
        pred = pred.view(L, T, Qd, -1)
        tgt = tgt.view(N, T, -1).transpose(0, 1).unsqueeze(0)  # [1, T, N, P]
        cost = self.mask_weight * pairwise_bce(pred, tgt) + self.dice_weight * pairwise_dice(pred, tgt)
        cls = -objectness.float().sigmoid()[..., None].expand(-1, -1, -1, N)
        if class_logits is not None and (categories >= 0).any():
            prob = class_logits.float().softmax(-1)[..., categories.clamp(min=0)]  # [L, T, Qd, N]
            cls = cls - prob * (categories >= 0)
        return cost + self.class_weight * cls

    @torch.no_grad()
    def __call__(self, outputs, targets, generator=None) -> Matches:
        """outputs: dict of forward_clip (leading dim = layers); targets: teacher_forcing.Targets."""
        K = targets.num_id_rows
        found = []
        for b in range(targets.masks.shape[0]):
            inst = torch.nonzero(targets.detect[b].any(0)).flatten()
            if len(inst) == 0:
                continue
            head = outputs["class_logits"].get(targets.datasets[b])
            cost = self.clip_costs(
                outputs["mask_logits"][:, b, :, K:],
                outputs["objectness_logits"][:, b, :, K:],
                None if head is None else head[:, b, :, K:],
                targets.masks[b, inst],
                targets.categories[b, inst],
                generator,
            )
            cost = cost.cpu().numpy()
            detect = targets.detect[b][:, inst].cpu().numpy()  # [T, n]
            inst = inst.cpu().numpy()
            for t in range(detect.shape[0]):
                cols = np.flatnonzero(detect[t])
                if len(cols) == 0:
                    continue
                for layer in range(cost.shape[0]):
                    q, c = assign(cost[layer, t][:, cols])
                    found.append(
                        np.stack(
                            [np.full_like(q, layer), np.full_like(q, b), np.full_like(q, t), q + K, inst[cols[c]]],
                            axis=1,
                        )
                    )
        rows = np.concatenate(found) if found else np.zeros((0, 5), np.int64)
        dev = targets.masks.device
        return Matches(*(torch.from_numpy(np.ascontiguousarray(rows[:, j])).to(dev) for j in range(5)))
