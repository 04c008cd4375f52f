"""One way in for the mask sequences the evaluators take, so callers (the
replay tools, the trainer's validation) can pass whatever they hold: an array
[T, H, W], a list with one entry per frame (array, COCO RLE dict, or None for
"absent"), or a dict frame index -> entry (missing frames absent)."""

from __future__ import annotations

from typing import Mapping, Sequence, Union

import numpy as np
from pycocotools import mask as mask_utils

from ..segmentation import decode_rle

FrameMask = Union[np.ndarray, dict, None]
MaskSequence = Union[np.ndarray, Sequence[FrameMask], Mapping[int, FrameMask]]


def _frame(entry: FrameMask, height: int, width: int) -> np.ndarray:
    if entry is None:
        return np.zeros((height, width), dtype=bool)
    if isinstance(entry, dict):
        counts = entry["counts"]
        rle = entry
        if isinstance(counts, list):
            rle = mask_utils.frPyObjects(entry, height, width)
        elif isinstance(counts, str):
            rle = {"size": entry["size"], "counts": counts.encode("ascii")}
        mask = decode_rle(rle)
    else:
        mask = np.asarray(entry).astype(bool)
    if mask.shape != (height, width):
        raise ValueError(f"mask of shape {mask.shape}, expected {(height, width)}")
    return mask


def as_mask_sequence(masks: MaskSequence, num_frames: int, height: int, width: int) -> np.ndarray:
    """bool [num_frames, height, width] from any accepted mask-sequence form."""
    if isinstance(masks, np.ndarray) and masks.ndim == 3:
        if masks.shape != (num_frames, height, width):
            raise ValueError(f"masks of shape {masks.shape}, expected {(num_frames, height, width)}")
        return masks.astype(bool, copy=False)
    out = np.zeros((num_frames, height, width), dtype=bool)
    if isinstance(masks, Mapping):
        for t, entry in masks.items():
            if not 0 <= int(t) < num_frames:
                raise ValueError(f"frame {t} outside 0..{num_frames - 1}")
            out[int(t)] = _frame(entry, height, width)
        return out
    masks = list(masks)
    if len(masks) != num_frames:
        raise ValueError(f"{len(masks)} frame masks for {num_frames} frames")
    for t, entry in enumerate(masks):
        out[t] = _frame(entry, height, width)
    return out


def labels_to_masks(labels: np.ndarray, ids: Sequence[int] | None = None) -> dict[int, np.ndarray]:
    """Split an integer label video [T, H, W] (0 = background) into id -> bool masks."""
    labels = np.asarray(labels)
    if ids is None:
        ids = [int(i) for i in np.unique(labels) if i != 0]
    return {int(i): labels == i for i in ids}
