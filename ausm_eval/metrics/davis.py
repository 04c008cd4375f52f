"""DAVIS 2017 J&F: per-object J and F sequences, their mean / recall / decay,
and the benchmark summary, for the semi-supervised (prompted) and unsupervised
(unprompted) tasks.

Semi-supervised scoring works on label videos, one label per pixel, as the
benchmark reads its PNGs (``score_label_video``). Per-object mask dicts (what a
tracker or the ROS replay tools hold) are first painted into a label video, the
higher score on top where masks overlap (``masks_to_labels``), so overlapping
predictions cannot both be credited with the same pixels.

The frames follow PyPI ``vos-benchmark`` (the evaluator of the XMem/Cutie line,
which reproduces davis2017-evaluation on DAVIS 2017): the annotated frames minus
the first and the last; each ground-truth object is scored from the first of those
frames where it appears in the ground truth or in the prediction, so an object
entering mid-video is not rewarded for the frames before it exists (where an
empty prediction would read as perfect), and a prediction that shows it too
early is penalised. Void pixels (label 255) are excluded from J and F, as the
official davis2017-evaluation does; vos-benchmark would read 255 as an object.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from .masks import MaskSequence, as_mask_sequence
from .region_boundary import DAVIS_BOUND_TH, boundary_f, jaccard

VOID_LABEL = 255
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
        first = v[bounds[0] : bounds[1] + 1]
        last = v[bounds[3] : bounds[4] + 1]
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


def masks_to_labels(
    masks: Mapping[int, MaskSequence],
    shape: tuple[int, int, int],
    scores: Mapping[int, float | Sequence[float]] | None = None,
) -> np.ndarray:
    """int32 label video [T, H, W] (0 = background) from object id -> masks.

    Where masks overlap, the pixel goes to the object with the higher score in that
    frame (``scores``: one per object, or one per frame); without scores, to the
    larger id, as a label-image writer that paints objects in id order leaves it.
    """
    t, h, w = shape
    labels = np.zeros((t, h, w), dtype=np.int32)
    ids = sorted(int(i) for i in masks)
    bad = [i for i in ids if not 0 < i < 2**31]
    if bad:
        raise ValueError(f"object ids must be positive 32-bit integers (0 is background), got {bad}")
    if not ids:
        return labels
    seqs = [as_mask_sequence(masks[i], t, h, w) for i in ids]
    if scores is None:
        for i, m in zip(ids, seqs):
            labels[m] = i
        return labels
    per_frame = np.full((len(ids), t), -np.inf)
    for n, i in enumerate(ids):
        if i in scores:
            per_frame[n] = np.broadcast_to(np.asarray(scores[i], dtype=np.float64), (t,))
    for f in range(t):
        # lowest score first, so the highest is painted last and keeps the pixel
        for n in np.argsort(per_frame[:, f], kind="stable"):
            labels[f][seqs[n][f]] = ids[n]
    return labels


def scored_frames(num_frames: int, frames: Sequence[int] | None = None, skip_first_last: bool = True) -> list[int]:
    """The frames J&F reads: the annotated ones (default all), minus the first and
    the last of them for the semi-supervised task."""
    chosen = list(range(num_frames)) if frames is None else sorted({int(f) for f in frames})
    bad = [f for f in chosen if not 0 <= f < num_frames]
    if bad:
        raise ValueError(f"frames {bad[:5]} outside a video of {num_frames} frames")
    return chosen[1:-1] if skip_first_last else chosen


def score_label_video(
    gt_labels: np.ndarray,
    pred_labels: np.ndarray,
    frames: Sequence[int] | None = None,
    skip_first_last: bool = True,
    bound_th: float = DAVIS_BOUND_TH,
    void_label: int | None = VOID_LABEL,
) -> dict[int, ObjectScores]:
    """Semi-supervised J and F per ground-truth object of one video of label images.

    gt_labels, pred_labels: integer [T, H, W], pixel = object id, 0 background.
    frames: the annotated frames (default all); of those, the first and the last
        are dropped when ``skip_first_last`` (the DAVIS 2017 protocol).
    An object is one that the ground truth shows in the scored frames; its J and F
    run from the first scored frame where it appears in the ground truth or the
    prediction to the last scored frame. Void pixels count for neither side.
    """
    gt = np.asarray(gt_labels)
    pred = np.asarray(pred_labels)
    if gt.ndim != 3 or gt.shape != pred.shape:
        raise ValueError(
            f"ground truth {gt.shape} and prediction {pred.shape} must be label videos [T, H, W] of one shape"
        )
    if not (np.issubdtype(gt.dtype, np.integer) and np.issubdtype(pred.dtype, np.integer)):
        raise ValueError(f"label videos must be integer arrays, got {gt.dtype} and {pred.dtype}")
    chosen = scored_frames(gt.shape[0], frames, skip_first_last)
    if not chosen:
        return {}
    g, p = gt[chosen], pred[chosen]
    keep = None if void_label is None else g != void_label
    ids = [int(v) for v in np.unique(g) if v != 0 and v != void_label]
    out = {}
    for i in ids:
        gm, pm = g == i, p == i
        start = int(np.argmax((gm | pm).reshape(len(chosen), -1).any(axis=1)))
        gm, pm = gm[start:], pm[start:]
        if keep is not None:
            gm &= keep[start:]
            pm &= keep[start:]
        out[i] = ObjectScores(j=np.atleast_1d(jaccard(gm, pm)), f=np.atleast_1d(boundary_f(gm, pm, bound_th)))
    return out


def static_baseline(
    gt_labels: np.ndarray, frames: Sequence[int] | None = None, void_label: int | None = VOID_LABEL
) -> np.ndarray:
    """The "static" prediction: each object's mask on the first (annotated) frame it
    appears in, the semi-supervised prompt, copied unchanged to every later frame.

    An object entering later is painted over the copies of earlier ones. A tracker
    that does not beat this has not shown that it tracks anything.
    """
    gt = np.asarray(gt_labels)
    chosen = scored_frames(gt.shape[0], frames, skip_first_last=False)
    out = np.zeros_like(gt)
    current = np.zeros(gt.shape[1:], dtype=gt.dtype)
    known: set[int] = set()
    annotated = set(chosen)
    for t in range(gt.shape[0]):
        if t in annotated:
            new = [int(v) for v in np.unique(gt[t]) if v != 0 and v != void_label and int(v) not in known]
            for i in new:
                current[gt[t] == i] = i
            known.update(new)
        out[t] = current
    return out


def evaluate_video(
    gt: Mapping[int, MaskSequence],
    pred: Mapping[int, MaskSequence],
    task: str = SEMI_SUPERVISED,
    skip_first_last: bool | None = None,
    bound_th: float = DAVIS_BOUND_TH,
    max_proposals: int | None = 20,
    shape: tuple[int, int, int] | None = None,
    pred_scores: Mapping[int, float | Sequence[float]] | None = None,
) -> dict[int, ObjectScores]:
    """J and F per ground-truth object of one video.

    semi-supervised: prediction ids are the ground-truth ids. Both sides are
        painted into label videos first (``masks_to_labels``; overlapping
        predictions resolved by ``pred_scores``, else the larger id wins), then
        scored by ``score_label_video``. A missing id is an empty prediction; ids
        absent from the ground truth are not scored but keep the pixels they
        cover, as they would in a PNG.
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
    if not gt:
        return {}
    if task == SEMI_SUPERVISED:
        return score_label_video(
            masks_to_labels(gt, (t, h, w)),
            masks_to_labels(pred, (t, h, w), pred_scores),
            skip_first_last=skip_first_last,
            bound_th=bound_th,
            void_label=None,
        )

    frames = slice(1, t - 1) if skip_first_last else slice(0, t)
    gt_ids = sorted(int(i) for i in gt)
    gt_masks = {i: as_mask_sequence(gt[i], t, h, w)[frames] for i in gt_ids}
    empty = np.zeros_like(next(iter(gt_masks.values())))
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

    def add_video(
        self,
        video: str,
        gt: Mapping[int, MaskSequence],
        pred: Mapping[int, MaskSequence],
        shape: tuple[int, int, int] | None = None,
        pred_scores: Mapping[int, float | Sequence[float]] | None = None,
    ) -> dict[int, ObjectScores]:
        """One video from per-object masks (see ``evaluate_video``)."""
        scores = evaluate_video(
            gt,
            pred,
            task=self.task,
            skip_first_last=self.skip_first_last,
            bound_th=self.bound_th,
            max_proposals=self.max_proposals,
            shape=shape,
            pred_scores=pred_scores,
        )
        return self._keep(video, scores)

    def add_labels(
        self,
        video: str,
        gt_labels: np.ndarray,
        pred_labels: np.ndarray,
        frames: Sequence[int] | None = None,
        void_label: int | None = VOID_LABEL,
    ) -> dict[int, ObjectScores]:
        """One video of label images (semi-supervised only; see ``score_label_video``)."""
        if self.task != SEMI_SUPERVISED:
            raise ValueError("label videos are scored by the semi-supervised protocol only")
        skip = True if self.skip_first_last is None else self.skip_first_last
        scores = score_label_video(gt_labels, pred_labels, frames, skip, self.bound_th, void_label)
        return self._keep(video, scores)

    def _keep(self, video: str, scores: dict[int, ObjectScores]) -> dict[int, ObjectScores]:
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
