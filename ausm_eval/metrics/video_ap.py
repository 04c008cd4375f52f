"""YouTube-VIS / OVIS video mask AP.

A video instance is a track: one category and per-frame masks (absent frames
empty). Two tracks overlap by their spatio-temporal IoU, the pixel
intersection summed over all frames divided by the union summed over all
frames. On that IoU the evaluation is COCO's: per (video, category),
detections greedily matched in score order at each IoU threshold 0.50:0.05:0.95,
precision made monotone and read at 101 recall points, averaged over
thresholds and categories; AR@k is the recall with at most k detections per
video and category. Crowd ground truth (rare in VIS) is matched as COCO does:
IoU against a crowd track divides by the detection's area only, a crowd track
may absorb several detections, and those detections are ignored.

Only the "all" area range is reported; the per-size split of the VIS server
needs mean areas that the replay tools do not have and is rarely quoted.

A model's classes and a dataset's categories are matched by name
(``match_classes``), never by index, and every track is entered once per
matched class with score mean(objectness x class probability)
(``class_scored_tracks``), as VIS methods submit: AP is a ranking measure, and a
track whose second-best class is right should still rank for it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
from pycocotools import mask as mask_utils

from .masks import MaskSequence, as_mask_sequence

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)
MAX_DETS = (1, 10, 100)


@dataclass
class GtTrack:
    category: int
    masks: MaskSequence
    iscrowd: bool = False


@dataclass
class PredTrack:
    category: int
    score: float
    masks: MaskSequence


def normalise_class_name(name: str) -> str:
    """Lower case, '_' and '-' as spaces, single spaces: "Sea_Lion" == "sea lion"."""
    return re.sub(r"\s+", " ", re.sub(r"[_\-]", " ", str(name))).strip().lower()


@dataclass
class ClassMatch:
    """model class index -> dataset category id, for the names both sides share."""

    to_dataset: dict[int, int]
    model_only: list[str]  # model classes no dataset category is named after
    dataset_only: list[str]  # dataset categories the model cannot predict (their AP is 0)

    def describe(self) -> str:
        parts = [f"{len(self.to_dataset)} classes matched by name"]
        if self.dataset_only:
            parts.append(f"dataset categories the model does not know (AP 0): {', '.join(self.dataset_only)}")
        if self.model_only:
            parts.append(f"model classes not in the dataset (ignored): {', '.join(self.model_only)}")
        return "; ".join(parts)


def match_classes(model_names: Sequence[str], dataset_categories: Mapping[int, str] | Sequence[str]) -> ClassMatch:
    """Match classes by (normalised) name. ``dataset_categories``: category id ->
    name, or names in category-index order."""
    if not isinstance(dataset_categories, Mapping):
        dataset_categories = dict(enumerate(dataset_categories))
    by_name: dict[str, int] = {}
    for cid, name in dataset_categories.items():
        key = normalise_class_name(name)
        if key in by_name:
            raise ValueError(f"dataset categories {by_name[key]} and {cid} are both named {name!r}")
        by_name[key] = int(cid)
    to_dataset, model_only, seen = {}, [], set()
    for index, name in enumerate(model_names):
        key = normalise_class_name(name)
        if key in seen:
            raise ValueError(f"the model has two classes named {name!r}")
        seen.add(key)
        if key in by_name:
            to_dataset[index] = by_name[key]
        else:
            model_only.append(str(name))
    dataset_only = [str(n) for cid, n in dataset_categories.items() if normalise_class_name(n) not in seen]
    return ClassMatch(to_dataset, model_only, dataset_only)


@dataclass
class ObservedTrack:
    """What a tracker reported for one track over a video: its mask, objectness and
    class probabilities on each frame it was reported."""

    masks: dict[int, np.ndarray] = field(default_factory=dict)
    objectness: list[float] = field(default_factory=list)
    class_probs: list[np.ndarray] = field(default_factory=list)

    def add(self, frame: int, mask: np.ndarray, objectness: float, class_probs: np.ndarray) -> None:
        self.masks[int(frame)] = mask
        self.objectness.append(float(objectness))
        self.class_probs.append(np.asarray(class_probs, dtype=np.float64))

    def class_scores(self) -> np.ndarray:
        """[C]: mean over the track's frames of objectness x class probability."""
        return np.mean(np.asarray(self.objectness)[:, None] * np.stack(self.class_probs), axis=0)


def class_scored_tracks(
    tracks: Mapping[int, ObservedTrack], to_dataset: Mapping[int, int], max_per_video: int | None = 100
) -> list[tuple[int, PredTrack]]:
    """(track id, PredTrack) once per track and matched class, the category being
    the dataset's, best ``max_per_video`` pairs of the video by score."""
    pairs = []
    for tid, track in sorted(tracks.items()):
        if not track.objectness:
            continue
        scores = track.class_scores()
        for model_class, dataset_class in to_dataset.items():
            if model_class < scores.size:
                pairs.append((tid, PredTrack(int(dataset_class), float(scores[model_class]), track.masks)))
    pairs.sort(key=lambda p: -p[1].score)
    return pairs if max_per_video is None else pairs[:max_per_video]


def class_agnostic_tracks(tracks: Mapping[int, ObservedTrack]) -> dict[int, PredTrack]:
    """One PredTrack per track, category 0, score its mean objectness."""
    return {tid: PredTrack(0, float(np.mean(t.objectness)), t.masks) for tid, t in tracks.items() if t.objectness}


def ytvis_result_entry(video_id: int, track: PredTrack, num_frames: int, height: int, width: int) -> dict:
    """One entry of a YouTube-VIS results file: compressed RLE per frame, null where absent."""
    masks = as_mask_sequence(track.masks, num_frames, height, width)
    segmentations = []
    for m in masks:
        if m.any():
            rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
            segmentations.append({"size": [int(height), int(width)], "counts": rle["counts"].decode("ascii")})
        else:
            segmentations.append(None)
    return {
        "video_id": int(video_id),
        "category_id": int(track.category),
        "score": float(track.score),
        "segmentations": segmentations,
    }


def _as_track(value, cls):
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        return cls(**{k: v for k, v in value.items() if k in cls.__dataclass_fields__})
    return cls(*value)


def encode_track(masks: np.ndarray) -> dict:
    """RLE of a track's frames stacked on top of each other ([T*H, W]).

    Stacking turns spatio-temporal IoU into plain mask IoU: intersections and
    unions of the tall masks are the per-frame sums. pycocotools then computes
    all pair IoUs from run lengths without materialising the pairs.
    """
    t, h, w = masks.shape
    return mask_utils.encode(np.asfortranarray(masks.reshape(t * h, w).astype(np.uint8)))


@dataclass
class _VideoCategory:
    """Matching results of one (video, category) pair, all IoU thresholds."""

    scores: np.ndarray  # [D] sorted descending
    matched: np.ndarray  # bool [K, D]
    ignored: np.ndarray  # bool [K, D]
    gt_ignored: np.ndarray  # bool [G]


def _match(
    ious: np.ndarray, gt_ignore: np.ndarray, gt_crowd: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """COCO greedy matching. Detections (rows, in score order) take the
    best-IoU ground truth still free (crowd stays free) at IoU >= threshold,
    preferring non-ignored ground truth; ``gt_ignore`` must be sorted with
    non-ignored first."""
    d, g = ious.shape
    matched = np.zeros((len(thresholds), d), dtype=bool)
    ignored = np.zeros((len(thresholds), d), dtype=bool)
    for k, threshold in enumerate(thresholds):
        taken = np.zeros(g, dtype=bool)
        for di in range(d):
            best_iou = min(threshold, 1 - 1e-10)
            best = -1
            for gi in range(g):
                if taken[gi] and not gt_crowd[gi]:
                    continue
                # Once matched to a real instance, never fall back to an ignored one.
                if best > -1 and not gt_ignore[best] and gt_ignore[gi]:
                    break
                if ious[di, gi] < best_iou:
                    continue
                best_iou, best = ious[di, gi], gi
            if best == -1:
                continue
            matched[k, di] = True
            ignored[k, di] = gt_ignore[best]
            taken[best] = True
    return matched, ignored


class VideoAPEvaluator:
    """Accumulate videos with ``add_video``, then read ``summary()``.

    class_agnostic: ignore categories (every track one class), the score for
    unprompted "detect everything" evaluation on class-agnostic data.
    """

    def __init__(
        self,
        class_agnostic: bool = False,
        iou_thresholds: Iterable[float] = IOU_THRESHOLDS,
        max_dets: Iterable[int] = MAX_DETS,
    ):
        self.class_agnostic = class_agnostic
        self.iou_thresholds = np.asarray(list(iou_thresholds), dtype=np.float64)
        self.max_dets = tuple(int(m) for m in max_dets)
        self._results: dict[int, list[_VideoCategory]] = {}
        self._num_videos = 0

    def add_video(
        self,
        gt: Mapping[int, GtTrack | tuple | dict],
        pred: Mapping[int, PredTrack | tuple | dict],
        shape: tuple[int, int, int],
    ) -> None:
        """One video: ``gt`` track id -> GtTrack(category, masks[, iscrowd]),
        ``pred`` track id -> PredTrack(category, score, masks); tuples and dicts
        with those fields work too. ``shape`` is (T, H, W)."""
        t, h, w = shape
        gts = [_as_track(v, GtTrack) for _, v in sorted(gt.items())]
        dts = [_as_track(v, PredTrack) for _, v in sorted(pred.items())]
        cat = (lambda c: 0) if self.class_agnostic else (lambda c: int(c))
        gt_rles = [encode_track(as_mask_sequence(g.masks, t, h, w)) for g in gts]
        dt_rles = [encode_track(as_mask_sequence(d.masks, t, h, w)) for d in dts]
        categories = sorted({cat(g.category) for g in gts} | {cat(d.category) for d in dts})
        for c in categories:
            gi = [i for i, g in enumerate(gts) if cat(g.category) == c]
            di = [i for i, d in enumerate(dts) if cat(d.category) == c]
            crowd = np.array([bool(gts[i].iscrowd) for i in gi], dtype=bool)
            # Non-ignored ground truth first (stable), as the matcher expects.
            g_order = np.argsort(crowd, kind="mergesort")
            gi = [gi[i] for i in g_order]
            crowd = crowd[g_order]
            scores = np.array([float(dts[i].score) for i in di], dtype=np.float64)
            d_order = np.argsort(-scores, kind="mergesort")[: self.max_dets[-1]]
            di = [di[i] for i in d_order]
            scores = scores[d_order]
            if gi and di:
                ious = np.asarray(
                    mask_utils.iou([dt_rles[i] for i in di], [gt_rles[i] for i in gi], crowd.astype(np.uint8).tolist()),
                    dtype=np.float64,
                )
                ious = ious.reshape(len(di), len(gi))
            else:
                ious = np.zeros((len(di), len(gi)))
            matched, ignored = _match(ious, crowd, crowd, self.iou_thresholds)
            self._results.setdefault(c, []).append(_VideoCategory(scores, matched, ignored, crowd))
        self._num_videos += 1

    def _accumulate(self) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """precision [K, R, C, M] and recall [K, C, M], -1 where a category has
        no (non-ignored) ground truth, as COCOeval.accumulate lays them out."""
        cats = sorted(self._results)
        k_n, r_n, m_n = len(self.iou_thresholds), len(RECALL_THRESHOLDS), len(self.max_dets)
        precision = -np.ones((k_n, r_n, len(cats), m_n))
        recall = -np.ones((k_n, len(cats), m_n))
        for ci, c in enumerate(cats):
            entries = self._results[c]
            num_gt = int(sum(np.count_nonzero(~e.gt_ignored) for e in entries))
            if num_gt == 0:
                continue
            for mi, max_det in enumerate(self.max_dets):
                scores = np.concatenate([e.scores[:max_det] for e in entries])
                order = np.argsort(-scores, kind="mergesort")
                matched = np.concatenate([e.matched[:, :max_det] for e in entries], axis=1)[:, order]
                ignored = np.concatenate([e.ignored[:, :max_det] for e in entries], axis=1)[:, order]
                tp = np.cumsum(matched & ~ignored, axis=1, dtype=np.float64)
                fp = np.cumsum(~matched & ~ignored, axis=1, dtype=np.float64)
                for k in range(k_n):
                    n = tp.shape[1]
                    rc = tp[k] / num_gt
                    pr = tp[k] / (tp[k] + fp[k] + np.spacing(1))
                    recall[k, ci, mi] = rc[-1] if n else 0.0
                    # Interpolated precision: the best precision at any higher recall.
                    pr = np.maximum.accumulate(pr[::-1])[::-1] if n else pr
                    at = np.searchsorted(rc, RECALL_THRESHOLDS, side="left")
                    q = np.zeros(r_n)
                    valid = at < n
                    q[valid] = pr[at[valid]]
                    precision[k, :, ci, mi] = q
        return precision, recall, cats

    def summary(self) -> dict[str, float]:
        """AP, AP50, AP75 (at the largest max_dets) and AR@k for each max_dets k,
        as fractions; -1 when there is no ground truth at all (COCO's marker).
        ``per_category_AP`` maps category -> AP."""
        precision, recall, cats = self._accumulate()

        def mean_valid(x: np.ndarray) -> float:
            x = x[x > -1]
            return float(x.mean()) if x.size else -1.0

        last = len(self.max_dets) - 1
        out: dict = {"AP": mean_valid(precision[..., last])}
        for name, thr in (("AP50", 0.5), ("AP75", 0.75)):
            k = np.flatnonzero(np.isclose(self.iou_thresholds, thr))
            out[name] = mean_valid(precision[k][..., last]) if k.size else -1.0
        for mi, m in enumerate(self.max_dets):
            out[f"AR{m}"] = mean_valid(recall[:, :, mi])
        out["per_category_AP"] = {c: mean_valid(precision[:, :, ci, last]) for ci, c in enumerate(cats)}
        out["num_videos"] = self._num_videos
        return out


def evaluate_ytvis_json(
    gt_file: str | os.PathLike | dict, results: str | os.PathLike | list, class_agnostic: bool = False
) -> dict[str, float]:
    """Video AP of a results file in the YouTube-VIS submission format,
    ``[{"video_id", "category_id", "score", "segmentations": [RLE | null per frame]}]``,
    against a YouTube-VIS ground-truth JSON."""
    gt_data = gt_file if isinstance(gt_file, dict) else json.loads(Path(gt_file).read_text())
    res_data = results if isinstance(results, list) else json.loads(Path(results).read_text())
    gt_by_video: dict[int, dict[int, GtTrack]] = {}
    for n, ann in enumerate(gt_data.get("annotations") or []):
        gt_by_video.setdefault(ann["video_id"], {})[ann.get("id", n)] = GtTrack(
            ann["category_id"], ann["segmentations"], bool(ann.get("iscrowd", 0))
        )
    res_by_video: dict[int, dict[int, PredTrack]] = {}
    for n, r in enumerate(res_data):
        res_by_video.setdefault(r["video_id"], {})[n] = PredTrack(r["category_id"], r["score"], r["segmentations"])
    evaluator = VideoAPEvaluator(class_agnostic=class_agnostic)
    for video in sorted(gt_data["videos"], key=lambda v: v["id"]):
        shape = (len(video["file_names"]), int(video["height"]), int(video["width"]))
        evaluator.add_video(gt_by_video.get(video["id"], {}), res_by_video.get(video["id"], {}), shape)
    return evaluator.summary()
