"""The two per-frame DAVIS measures: region similarity J (IoU) and boundary
accuracy F, with the definitions of the official davis2017-evaluation code so
that numbers are comparable with published ones."""

from __future__ import annotations

import cv2
import numpy as np

# Boundary tolerance of the DAVIS benchmark, as a fraction of the image diagonal.
DAVIS_BOUND_TH = 0.008


def jaccard(gt: np.ndarray, pred: np.ndarray) -> np.ndarray | float:
    """Region similarity J = |gt & pred| / |gt | pred| over the last two axes.

    An empty ground truth predicted as empty scores 1: the prediction is
    right, and DAVIS counts it so.
    """
    gt = np.asarray(gt, dtype=bool)
    pred = np.asarray(pred, dtype=bool)
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth {gt.shape} and prediction {pred.shape} differ in shape")
    inter = np.count_nonzero(gt & pred, axis=(-2, -1))
    union = np.count_nonzero(gt | pred, axis=(-2, -1))
    j = np.where(union == 0, 1.0, inter / np.maximum(union, 1))
    return float(j) if j.ndim == 0 else j


def seg2bmap(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary map of a binary mask, as DAVIS defines it.

    A pixel is on the boundary when it differs from its right, lower or
    lower-right neighbour, comparing only with neighbours inside the image: the
    image border itself is not a boundary (a mask filling the frame has none).
    """
    m = np.asarray(mask, dtype=bool)
    b = np.zeros_like(m)
    b[:, :-1] |= m[:, :-1] != m[:, 1:]  # right neighbour
    b[:-1, :] |= m[:-1, :] != m[1:, :]  # lower neighbour
    b[:-1, :-1] |= m[:-1, :-1] != m[1:, 1:]  # lower-right neighbour
    return b


def disk(radius: int) -> np.ndarray:
    """uint8 structuring element: the pixels within Euclidean distance radius."""
    r = int(radius)
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    return (x * x + y * y <= r * r).astype(np.uint8)


def boundary_tolerance(height: int, width: int, bound_th: float = DAVIS_BOUND_TH) -> int:
    """Match tolerance in pixels: bound_th times the diagonal, rounded up, or
    bound_th itself when it is already a pixel count (>= 1)."""
    if bound_th >= 1:
        return int(bound_th)
    return int(np.ceil(bound_th * np.hypot(height, width)))


def _boundary_f_frame(gt: np.ndarray, pred: np.ndarray, structure: np.ndarray) -> float:
    gt_b = seg2bmap(gt)
    pred_b = seg2bmap(pred)
    n_gt = int(np.count_nonzero(gt_b))
    n_pred = int(np.count_nonzero(pred_b))
    # Degenerate cases follow the official code: nothing to find and nothing
    # found is perfect; one side empty gives precision or recall 0.
    if n_gt == 0 and n_pred == 0:
        return 1.0
    if n_gt == 0 or n_pred == 0:
        return 0.0
    gt_dil = cv2.dilate(gt_b.astype(np.uint8), structure) > 0
    pred_dil = cv2.dilate(pred_b.astype(np.uint8), structure) > 0
    precision = np.count_nonzero(pred_b & gt_dil) / n_pred
    recall = np.count_nonzero(gt_b & pred_dil) / n_gt
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


def boundary_f(gt: np.ndarray, pred: np.ndarray, bound_th: float = DAVIS_BOUND_TH) -> np.ndarray | float:
    """Boundary F-measure of one frame [H, W] or of every frame of [T, H, W].

    Boundary pixels of the prediction count as correct (precision) when a
    ground-truth boundary pixel lies within the tolerance disk, and vice versa
    for recall; F is their harmonic mean.
    """
    gt = np.asarray(gt, dtype=bool)
    pred = np.asarray(pred, dtype=bool)
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth {gt.shape} and prediction {pred.shape} differ in shape")
    structure = disk(boundary_tolerance(gt.shape[-2], gt.shape[-1], bound_th))
    if gt.ndim == 2:
        return _boundary_f_frame(gt, pred, structure)
    flat_gt = gt.reshape(-1, *gt.shape[-2:])
    flat_pred = pred.reshape(-1, *pred.shape[-2:])
    f = np.array([_boundary_f_frame(g, p, structure) for g, p in zip(flat_gt, flat_pred)])
    return f.reshape(gt.shape[:-2])
