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


def cut_boxes(
    image: torch.Tensor,
    boxes: torch.Tensor,
    ring: int = RING,
    bins: int = BINS,
    smooth: int = SMOOTH,
    threshold: float = THRESHOLD,
    min_kept: float = MIN_KEPT,
    edge_radius: int = RADIUS,
) -> torch.Tensor:
    """``image`` [3, H, W] RGB in [0, 1]; ``boxes`` [K, H, W], 1 inside each rectangle.
    Returns each object's mask [K, H, W] in {0, 1}, inside its box; the box itself where its
    ring is out of the image or its cut keeps less than ``min_kept`` of it. ``edge_radius``:
    how far (pixels) the probability is spread along similar colours; 0: not at all. All
    boxes in one pass: the frame's colours and affinities are computed once, so several
    boxes prompted on one frame cost about half what they cost one by one."""
    out = boxes.clone()
    inside = boxes > 0.5
    around = surroundings(inside, ring)
    rows = torch.nonzero((around.flatten(1).sum(1) >= MIN_AROUND) & inside.flatten(1).any(1)).flatten()
    if len(rows) == 0:
        return out
    inside, around = inside[rows], around[rows]
    colours = colour_index(image, bins)
    p = object_probability(colours, inside, around, colours, bins, smooth) * inside
    if edge_radius > 0:
        p = carry_near(p, image[None], image[None], edge_radius)
    cut = inside & (p > threshold)
    kept = cut.flatten(1).sum(1) >= min_kept * inside.flatten(1).sum(1)
    out[rows[kept]] = cut[kept].to(out.dtype)
    return out


def cut_box(image: torch.Tensor, box: torch.Tensor, **settings) -> torch.Tensor:
    """One box [H, W] -> its object's mask [H, W] (``cut_boxes``)."""
    return cut_boxes(image, box[None], **settings)[0]
