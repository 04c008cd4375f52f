"""A box prompt cut down to its object: the pixels in the box whose colour is more typical
of the box than of a thin ring around it.

A box says where an object is, not which of its pixels are the object; carried forward as
a rectangle, the background in its corners is tracked as the object. The network, which
has seen too few real images to know what an object is, does worse than the rectangle on
the prompt frame. A colour model needs no training: the box holds the object plus some
background, the ring just outside it holds background only, so the ratio of the two colour
histograms separates them wherever their colours differ. Chosen on training-split
composites (``bench/box_cut_choice.py``), then measured on held-out ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

BINS = 6  # per RGB channel: 216 colours, enough to separate, few enough to fill from a small box
RING = 3  # pixels around the box taken as background
SMOOTH = 5  # box filter (pixels) over the per-pixel probability: objects are regions, not speckle
THRESHOLD = 0.6  # P(object | colour) a pixel needs
MIN_KEPT = 0.2  # a cut keeping less of the box than this has found no object: keep the box


def cut_box(
    image: torch.Tensor,
    box: torch.Tensor,
    ring: int = RING,
    bins: int = BINS,
    smooth: int = SMOOTH,
    threshold: float = THRESHOLD,
    min_kept: float = MIN_KEPT,
) -> torch.Tensor:
    """``image`` [3, H, W] RGB in [0, 1]; ``box`` [H, W], 1 inside the rectangle. Returns
    the object's mask [H, W] in {0, 1}, inside the box; the box itself when the ring is
    out of the image or the cut keeps less than ``min_kept`` of it."""
    inside = box > 0.5
    around = F.max_pool2d(inside[None, None].float(), 2 * ring + 1, stride=1, padding=ring)[0, 0] > 0.5
    around &= ~inside
    if int(around.sum()) < 5 or not inside.any():
        return box.clone()
    q = (image.clamp(0, 1) * (bins - 1e-3)).long()
    colour = (q[0] * bins + q[1]) * bins + q[2]
    fg = torch.bincount(colour[inside], minlength=bins**3).float() + 0.5
    bg = torch.bincount(colour[around], minlength=bins**3).float() + 0.5
    fg, bg = fg / fg.sum(), bg / bg.sum()
    p = (fg / (fg + bg))[colour]
    if smooth > 1:
        p = F.avg_pool2d(p[None, None], smooth, stride=1, padding=smooth // 2, count_include_pad=False)[0, 0]
    cut = inside & (p > threshold)
    if int(cut.sum()) < min_kept * int(inside.sum()):
        return box.clone()
    return cut.to(box.dtype)
