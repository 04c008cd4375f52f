"""A box prompt cut down to its object: the pixels in the box whose colour is more typical
of the box than of a thin ring around it (``ausm.colour_model``).

A box says where an object is, not which of its pixels are the object; carried forward as
a rectangle, the background in its corners is tracked as the object. The network, which
has seen too few real images to know what an object is, does worse than the rectangle on
the prompt frame. The box holds the object plus some background, the ring just outside it
background only, so the ratio of their colour histograms separates the two wherever their
colours differ. That ratio is then spread along the frame's own colours (the label
propagation of ``ausm.propagation``, from the frame to itself): a box filter blurs it across
the object's outline, a colour affinity keeps it on the outline's side it came from, and
the zeros outside the box pull the cut off the box's sides. Chosen on training-split
composites (``bench/box_cut_choice.py``), then measured on held-out ones.
"""

from __future__ import annotations

import torch

from .colour_model import BINS, MIN_AROUND, RING, SMOOTH, colour_index, object_probability, surroundings
from .propagation import RADIUS, carry_near

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
    edge_radius: int = RADIUS,
) -> torch.Tensor:
    """``image`` [3, H, W] RGB in [0, 1]; ``box`` [H, W], 1 inside the rectangle. Returns
    the object's mask [H, W] in {0, 1}, inside the box; the box itself when the ring is
    out of the image or the cut keeps less than ``min_kept`` of it. ``edge_radius``: how far
    (pixels) the probability is spread along similar colours; 0: not at all."""
    inside = box > 0.5
    around = surroundings(inside, ring)
    if int(around.sum()) < MIN_AROUND or not inside.any():
        return box.clone()
    colours = colour_index(image, bins)
    p = object_probability(colours, inside, around, colours, bins, smooth) * inside
    if edge_radius > 0:
        p = carry_near(p[None], image[None], image[None], edge_radius)[0]
    cut = inside & (p > threshold)
    if int(cut.sum()) < min_kept * int(inside.sum()):
        return box.clone()
    return cut.to(box.dtype)
