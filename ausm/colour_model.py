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
RING = 3  # pixels (at the model input) around the object taken as its surroundings
SMOOTH = 5  # box filter (pixels) over the probability: objects are regions, not speckle
MIN_AROUND = 5  # surroundings of fewer pixels (an object filling the frame) give no model


def colour_index(image: torch.Tensor, bins: int = BINS) -> torch.Tensor:
    """[3, H, W] RGB in [0, 1] -> [H, W] long, the colour's histogram bin."""
    q = (image.clamp(0, 1) * (bins - 1e-3)).long()
    return (q[0] * bins + q[1]) * bins + q[2]


# sRGB (D65) -> CIE XYZ, and the D65 white point: the standard's constants
_RGB_TO_XYZ = ((0.412453, 0.357580, 0.180423), (0.212671, 0.715160, 0.072169), (0.019334, 0.119193, 0.950227))
_WHITE = (0.95047, 1.0, 1.08883)


def rgb_to_lab(image: torch.Tensor) -> torch.Tensor:
    """[3, H, W] sRGB in [0, 1] -> CIELAB (D65) scaled to about [0, 1] for ``colour_index``:
    L / 100, (a + 100) / 200, (b + 100) / 200. Its axes follow lightness and the two
    opponent colours, where RGB's bins cut across them."""
    c = image.clamp(0, 1)
    linear = torch.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    m = torch.tensor(_RGB_TO_XYZ, dtype=image.dtype, device=image.device)
    white = torch.tensor(_WHITE, dtype=image.dtype, device=image.device)
    xyz = torch.einsum("ij,jhw->ihw", m, linear) / white[:, None, None]
    d = 6 / 29
    f = torch.where(xyz > d**3, xyz.clamp_min(1e-12) ** (1 / 3), xyz / (3 * d * d) + 4 / 29)
    L = 116 * f[1] - 16
    a, b = 500 * (f[0] - f[1]), 200 * (f[1] - f[2])
    return torch.stack([L / 100, (a + 100) / 200, (b + 100) / 200])


def window_sum(x: torch.Tensor, r: int) -> torch.Tensor:
    """Sum of ``x`` [..., H, W] over each pixel's (2r+1)x(2r+1) window, zero outside.
    Integral images, not pooling: torch's CPU max/avg pooling over 16 masks at 128x96 took
    five to twelve times as long (``bench/colour_steps.py``: 7.4 / 2.9 ms against 0.6 / 0.5)."""
    c = F.pad(x, (r + 1, r, r + 1, r)).cumsum(-1).cumsum(-2)
    k = 2 * r + 1
    return c[..., k:, k:] - c[..., :-k, k:] - c[..., k:, :-k] + c[..., :-k, :-k]


def surroundings(inside: torch.Tensor, ring: int = RING) -> torch.Tensor:
    """bool [..., H, W] -> bool [..., H, W]: the pixels within ``ring`` of ``inside``, not in it."""
    return (window_sum(inside.float(), ring) > 0.5) & ~inside  # float sums of 0/1 are exact here


def object_probability(
    colours: torch.Tensor,
    inside: torch.Tensor,
    around: torch.Tensor,
    at: torch.Tensor,
    bins: int = BINS,
    smooth: int = SMOOTH,
) -> torch.Tensor:
    """P(object | colour) for the colours ``at`` [H, W] (from ``colour_index``), with equal
    priors, from the histograms of ``colours`` [H, W] under the masks ``inside`` (objects)
    and ``around`` (their surroundings), both bool [K, H, W] or [H, W], smoothed over
    ``smooth`` pixels. Returns float of ``inside``'s shape; all objects in one pass, so
    its cost hardly grows with their number."""
    n = bins**3
    masks = inside.reshape(-1, *inside.shape[-2:])
    K = masks.shape[0]
    # one bincount for all objects: object k's colours are counted in bins [k n, (k + 1) n)
    offset = colours[None] + n * torch.arange(K, device=colours.device)[:, None, None]
    fg = torch.bincount(offset[masks], minlength=K * n).view(K, n).float() + 0.5
    bg = torch.bincount(offset[around.reshape(masks.shape)], minlength=K * n).view(K, n).float() + 0.5
    fg, bg = fg / fg.sum(1, keepdim=True), bg / bg.sum(1, keepdim=True)
    p = (fg / (fg + bg))[:, at]  # [K, H, W]
    if smooth > 1:  # the mean over the window's pixels inside the image; float64 sums stay exact enough
        r = smooth // 2
        p = (window_sum(p.double(), r) / window_sum(torch.ones_like(at, dtype=torch.float64), r)).float()
    return p.reshape(inside.shape)


def colour_gate(masks: torch.Tensor, before: torch.Tensor, now: torch.Tensor, threshold: float) -> torch.Tensor:
    """masks [K, H, W] of the frame ``before`` ([3, H, W]) -> bool [K, H, W]: where a pixel of
    ``now`` may belong to object k, its colour more than ``threshold`` likely the object's
    than its surroundings' on ``before``. All true for a mask that gives no model (empty,
    or with fewer than ``MIN_AROUND`` pixels around it)."""
    keep = torch.ones(masks.shape, dtype=torch.bool, device=masks.device)
    rows = torch.nonzero(masks.flatten(1).amax(1) > 0.5).flatten()
    inside = masks[rows] > 0.5
    around = surroundings(inside)
    enough = around.flatten(1).sum(1) >= MIN_AROUND
    rows, inside, around = rows[enough], inside[enough], around[enough]
    if len(rows):
        keep[rows] = object_probability(colour_index(before), inside, around, colour_index(now)) > threshold
    return keep
