"""How typical a pixel's colour is of an object rather than of its surroundings: the ratio
of two colour histograms, one of the object's pixels, one of a thin ring around them.

No training, and nothing the network must have learned: on real images an object's colours
differ from what lies around it more often than its texture can be recognised by a small
network trained on a few photographs. Used twice: to cut a box prompt down to its object
(``ausm.box_cut``), and to keep a tracked mask off pixels coloured like the background it
was seen against one frame before (``ausm.session``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

BINS = 6  # per RGB channel: 216 colours, enough to separate, few enough to fill from a small object
RING = 3  # pixels around the object taken as its surroundings
SMOOTH = 5  # box filter (pixels) over the probability: objects are regions, not speckle


def colour_index(image: torch.Tensor, bins: int = BINS) -> torch.Tensor:
    """[3, H, W] RGB in [0, 1] -> [H, W] long, the colour's histogram bin."""
    q = (image.clamp(0, 1) * (bins - 1e-3)).long()
    return (q[0] * bins + q[1]) * bins + q[2]


def surroundings(inside: torch.Tensor, ring: int = RING) -> torch.Tensor:
    """bool [H, W] -> bool [H, W]: the pixels within ``ring`` of ``inside``, not in it."""
    near = F.max_pool2d(inside[None, None].float(), 2 * ring + 1, stride=1, padding=ring)[0, 0] > 0.5
    return near & ~inside


def object_probability(
    colours: torch.Tensor,
    inside: torch.Tensor,
    around: torch.Tensor,
    at: torch.Tensor,
    bins: int = BINS,
    smooth: int = SMOOTH,
) -> torch.Tensor:
    """P(object | colour) for the colours ``at`` [H, W] (from ``colour_index``), with equal
    priors, from the histograms of ``colours`` under the masks ``inside`` (the object) and
    ``around`` (its surroundings), smoothed over ``smooth`` pixels. Returns float [H, W]."""
    fg = torch.bincount(colours[inside], minlength=bins**3).float() + 0.5
    bg = torch.bincount(colours[around], minlength=bins**3).float() + 0.5
    fg, bg = fg / fg.sum(), bg / bg.sum()
    p = (fg / (fg + bg))[at]
    if smooth > 1:
        p = F.avg_pool2d(p[None, None], smooth, stride=1, padding=smooth // 2, count_include_pad=False)[0, 0]
    return p
