"""DAVIS 2017 J&F: per-object J and F sequences, their mean / recall / decay,
and the benchmark summary, for the semi-supervised (prompted) and unsupervised
(unprompted) tasks.

Inputs are dicts object/track id -> per-frame masks in any form
``as_mask_sequence`` accepts, so the ROS replay tools can hand over what the
tracker produced without writing PNGs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
from scipy.optimize import linear_sum_assignment

from .masks import MaskSequence, as_mask_sequence
from .region_boundary import DAVIS_BOUND_TH, boundary_f, jaccard

SEMI_SUPERVISED = "semi-supervised"
UNSUPERVISED = "unsupervised"


def mean_recall_decay(values: np.ndarray) -> tuple[float, float, float]:
    """DAVIS statistics of one object's per-frame J (or F) values.

    mean:   average over frames (NaNs ignored);
    recall: fraction of frames scoring above 0.5;
    decay:  mean of the first quarter of the frames minus mean of the last
            quarter. The quarters are the DAVIS bins: 5 boundaries rounded
            from linspace(1, T, 5), each bin inclusive of both its ends, so
            neighbouring bins share a frame.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean = float(np.nanmean(v))
        recall = float(np.nanmean(v > 0.5))
        bounds = (np.round(np.linspace(1, v.size, 5) + 1e-10) - 1).astype(int)
        first = v[bounds[0]:bounds[1] + 1]
        last = v[bounds[3]:bounds[4] + 1]
        decay = float(np.nanmean(first) - np.nanmean(last))
    return mean, recall, decay


def _video_shape(gt: Mapping[int, MaskSequence]) -> tuple[int, int, int]:
    for masks in gt.values():
        if isinstance(masks, np.ndarray) and masks.ndim == 3:
            return masks.shape  # type: ignore[return-value]
    raise ValueError("pass num_frames/height/width when no ground truth is a [T, H, W] array")


@dataclass
class ObjectScores:
    """Per-frame J and F of one ground-truth object over the evaluated frames."""

    j: np.ndarray
    f: np.ndarray


def evaluate_video(gt: Mapping[int, MaskSequence], pred: Mapping[int, MaskSequence],
                   task: str = SEMI_SUPERVISED, skip_first_last: bool | None = None,
                   bound_th: float = DAVIS_BOUND_TH, max_proposals: int | None = 20,
                   shape: tuple[int, int, int] | None = None) -> dict[int, ObjectScores]:
    """J and F per ground-truth object of one video.

    semi-supervised: prediction ids are the ground-truth ids; a missing id is an
        empty prediction, ids absent from the ground truth are ignored (a tracker
        may report extra objects; the benchmark scores only the given ones).
    unsupervised: predictions are matched one-to-one to ground-truth objects by
        the Hungarian algorithm on the mean of J and F over the video; unmatched
        objects score against an empty mask. More than ``max_proposals``
        predictions is an error, as in the benchmark (None lifts the limit).
    skip_first_last: drop the first and last frame before scoring; default True
        for semi-supervised (the first frame is the prompt; the official code
        drops both) and False for unsupervised, as the official code does.
    """
    if task not in (SEMI_SUPERVISED, UNSUPERVISED):
        raise ValueError(f"task must be {SEMI_SUPERVISED!r} or {UNSUPERVISED!r}")
    t, h, w = shape if shape is not None else _video_shape(gt)
    if skip_first_last is None:
        skip_first_last = task == SEMI_SUPERVISED
    frames = slice(1, t - 1) if skip_first_last else slice(0, t)
    gt_ids = sorted(int(i) for i in gt)
    gt_masks = {i: as_mask_sequence(gt[i], t, h, w)[frames] for i in gt_ids}
    empty = np.zeros_like(next(iter(gt_masks.values()))) if gt_masks else None
    if not gt_ids:
        return {}

    if task == SEMI_SUPERVISED:
        out = {}
        for i in gt_ids:
            p = as_mask_sequence(pred[i], t, h, w)[frames] if i in pred else empty
            out[i] = ObjectScores(j=np.atleast_1d(jaccard(gt_masks[i], p)),
                                  f=np.atleast_1d(boundary_f(gt_masks[i], p, bound_th)))
        return out

    pred_ids = sorted(pred)
    if max_proposals is not None and len(pred_ids) > max_proposals:
        raise ValueError(f"{len(pred_ids)} proposals, the benchmark allows {max_proposals}")
    preds = [as_mask_sequence(pred[k], t, h, w)[frames] for k in pred_ids]
    # Pad with empty proposals so every ground-truth object gets a partner.
    preds += [empty] * max(0, len(gt_ids) - len(preds))
    j = np.array([[np.atleast_1d(jaccard(gt_masks[g], p)) for g in gt_ids] for p in preds])
    f = np.array([[np.atleast_1d(boundary_f(gt_masks[g], p, bound_th)) for g in gt_ids] for p in preds])
    rows, cols = linear_sum_assignment(-(j.mean(axis=2) + f.mean(axis=2)) / 2)
    return {gt_ids[c]: ObjectScores(j=j[r, c], f=f[r, c]) for r, c in zip(rows, cols)}


@dataclass
class DavisEvaluator:
    """Accumulates videos and reports the DAVIS summary.

    The summary averages over objects (every object of every video weighs the
    same), which is how the benchmark's "Global" row is formed.
    """

    task: str = SEMI_SUPERVISED
    bound_th: float = DAVIS_BOUND_TH
    skip_first_last: bool | None = None
    max_proposals: int | None = 20
    per_object: dict[str, ObjectScores] = field(default_factory=dict)

    def add_video(self, video: str, gt: Mapping[int, MaskSequence], pred: Mapping[int, MaskSequence],
                  shape: tuple[int, int, int] | None = None) -> dict[int, ObjectScores]:
        scores = evaluate_video(gt, pred, task=self.task, skip_first_last=self.skip_first_last,
                                bound_th=self.bound_th, max_proposals=self.max_proposals, shape=shape)
        for object_id, s in scores.items():
            self.per_object[f"{video}_{object_id}"] = s
        return scores

    def summary(self) -> dict[str, float]:
        """J&F-Mean, J-Mean, J-Recall, J-Decay, F-Mean, F-Recall, F-Decay
        (fractions in [0, 1]; decay can be negative); NaN with no objects."""
        stats = {"J": [], "F": []}
        for s in self.per_object.values():
            stats["J"].append(mean_recall_decay(s.j))
            stats["F"].append(mean_recall_decay(s.f))
        out: dict[str, float] = {}
        for measure in ("J", "F"):
            values = np.array(stats[measure], dtype=np.float64).reshape(-1, 3)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=RuntimeWarning)
                means = np.nanmean(values, axis=0) if len(values) else np.full(3, np.nan)
            out[f"{measure}-Mean"], out[f"{measure}-Recall"], out[f"{measure}-Decay"] = map(float, means)
        out["J&F-Mean"] = (out["J-Mean"] + out["F-Mean"]) / 2
        out["num_objects"] = float(len(self.per_object))
        return out

    def object_means(self) -> dict[str, tuple[float, float]]:
        """Per object: (mean J, mean F), the benchmark's per-sequence table."""
        return {k: (float(np.nanmean(s.j)), float(np.nanmean(s.f))) for k, s in self.per_object.items()}
