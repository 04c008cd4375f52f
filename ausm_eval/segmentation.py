"""COCO-style segmentations (the encoding YouTube-VIS, OVIS, COCO and SA-V use)
to and from boolean masks, through pycocotools.

Three encodings occur in the official files:
- compressed RLE:   {"size": [h, w], "counts": "<ascii string>"}   (OVIS, SA-V, COCO)
- uncompressed RLE: {"size": [h, w], "counts": [int, ...]}         (YouTube-VIS 2019, COCO crowd)
- polygons:         [[x0, y0, x1, y1, ...], ...]                   (COCO)
plus ``None`` for "absent in this frame" in the video formats.
"""

from __future__ import annotations

import warnings

import numpy as np
from pycocotools import mask as mask_utils


def decode_rle(rle) -> np.ndarray:
    """bool mask of a pycocotools RLE (counts as bytes)."""
    with warnings.catch_warnings():
        # pycocotools' decode trips a numpy 2 "copy keyword" deprecation notice
        # on every call; it is harmless and would flood training logs.
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode(rle).astype(bool)


def decode_segmentation(segmentation, height: int, width: int) -> np.ndarray:
    """bool [height, width] mask of one segmentation entry.

    Raises ValueError for an entry of none of the known forms, or one whose
    stored size disagrees with the frame size.
    """
    if segmentation is None:
        return np.zeros((height, width), dtype=bool)
    if isinstance(segmentation, dict):
        size = segmentation.get("size")
        counts = segmentation.get("counts")
        if size is None or counts is None or len(size) != 2:
            raise ValueError(f"RLE entry needs 'size' [h, w] and 'counts', got keys {sorted(segmentation)}")
        if (int(size[0]), int(size[1])) != (height, width):
            raise ValueError(f"RLE size {size} differs from frame size {[height, width]}")
        if isinstance(counts, list):
            if sum(int(c) for c in counts) != height * width:
                raise ValueError("uncompressed RLE counts do not add up to h*w")
            rle = mask_utils.frPyObjects(segmentation, height, width)
        elif isinstance(counts, (str, bytes)):
            rle = {"size": [height, width], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
        else:
            raise ValueError(f"RLE counts of type {type(counts).__name__}")
        return decode_rle(rle)
    if isinstance(segmentation, list):
        polygons = [list(map(float, p)) for p in segmentation]
        if not polygons:
            return np.zeros((height, width), dtype=bool)
        # pycocotools wants at least 3 points per polygon; fewer is a broken entry.
        if any(len(p) < 6 or len(p) % 2 for p in polygons):
            raise ValueError("polygon with fewer than 3 points or an odd coordinate count")
        rles = mask_utils.frPyObjects(polygons, height, width)
        return decode_rle(mask_utils.merge(rles))
    raise ValueError(f"segmentation of type {type(segmentation).__name__}")


def encode_rle(mask: np.ndarray) -> dict:
    """Compressed RLE of a bool [H, W] mask, JSON-ready (counts as str)."""
    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def encode_uncompressed_rle(mask: np.ndarray) -> dict:
    """Uncompressed RLE: run lengths over the column-major pixel order, starting
    with a (possibly empty) run of zeros, as YouTube-VIS 2019 stores masks."""
    mask = np.asarray(mask, dtype=bool)
    flat = mask.reshape(-1, order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        runs = [0] + runs
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": [int(r) for r in runs]}


def mask_area(mask: np.ndarray) -> int:
    return int(np.count_nonzero(mask))


def mask_bbox(mask: np.ndarray) -> list[float] | None:
    """COCO box [x, y, w, h] of a mask, None when empty."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    x0, y0 = int(xs.min()), int(ys.min())
    return [float(x0), float(y0), float(xs.max() - x0 + 1), float(ys.max() - y0 + 1)]
