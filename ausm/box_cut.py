"""A box prompt cut down to its object: which pixels of the box are the object, from how
typical their colour is of the box rather than of a thin ring around it
(``ausm.colour_model``) and where they lie in the box.

A box says where an object is, not which of its pixels are the object; carried forward as
a rectangle, the background in its corners is tracked as the object. The network, which
has seen too few real images to know what an object is, does worse than the rectangle on
the prompt frame. The box holds the object plus some background, the ring just outside it
background only, so the ratio of their colour histograms separates the two wherever their
colours differ. That ratio is spread along the frame's own colours (the label propagation
of ``ausm.propagation``, from the frame to itself): a box filter blurs it across the
object's outline, a colour affinity keeps it on the outline's side it came from, and the
zeros outside the box pull the cut off the box's sides.

Two ways to decide from it (``cut_boxes``):
- the colour rule: a pixel is the object where that spread probability passes 0.6;
- the learned cut (the default): a small per-pixel classifier (``BoxCutScorer``, 13
  inputs, two hidden layers of 16) reads the same probability with the colour model at
  other bin counts and in CIELAB, the pixel's place in the box, and the box's shape and how
  much of it looks like the object. What a threshold cannot know, such as that a box whose
  colours hardly differ from its ring's holds background in its corners, it learns from
  the first appearances of objects in training-split composites
  (``python -m ausm_train.box_cut_fit``); its 513 weights ship in
  ``ausm/checkpoints/box_cut.safetensors``.
Both are measured on training-split and held-out composites by ``bench/box_cut_choice.py``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, safe_open

from .colour_model import BINS, MIN_AROUND, RING, SMOOTH, colour_index, object_probability, rgb_to_lab, surroundings
from .propagation import RADIUS, carry_near

THRESHOLD = 0.6  # the colour rule: P(object | colour) a pixel needs
MIN_KEPT = 0.2  # a cut keeping less of the box than this has found no object: keep the box
SCORER_PATH = Path(__file__).resolve().parent / "checkpoints" / "box_cut.safetensors"
FEATURES = (
    "spread P(object | colour), 6 bins",
    "P(object | colour), 6 bins",
    "P(object | colour), 6 bins, not smoothed",
    "P(object | colour), 4 bins",
    "P(object | colour), 8 bins",
    "P(object | colour), CIELAB, 6 bins",
    "spread P(object | colour), CIELAB, 6 bins",
    "squared distance from the box centre (1 at the middle of a side)",
    "closeness to the nearest side (0 on it, 1 at the centre)",
    "the box's mean spread P",
    "the box's share of the frame",
    "spread P times closeness to the nearest side",
    "log of the box's width / height",
)


def _per_box(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return x[:, None, None].expand_as(like)


def _logit(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(1e-3, 1 - 1e-3)
    return torch.log(p / (1 - p))


def spread_in_boxes(p: torch.Tensor, image: torch.Tensor, inside: torch.Tensor, radius: int) -> torch.Tensor:
    """P(object | colour) [K, H, W] kept inside the boxes and spread ``radius`` pixels along
    ``image``'s colours (0: not spread)."""
    p = p * inside
    return carry_near(p, image[None], image[None], radius) if radius > 0 else p


def cut_features(image: torch.Tensor, inside: torch.Tensor, around: torch.Tensor) -> torch.Tensor:
    """``image`` [3, H, W]; ``inside`` and ``around`` bool [K, H, W], boxes and their rings
    -> [K, H, W, len(FEATURES)] float, probabilities as logits."""
    H, W = inside.shape[-2:]
    c4, c6, c8 = (colour_index(image, b) for b in (4, BINS, 8))
    cl = colour_index(rgb_to_lab(image), BINS)
    p6 = object_probability(c6, inside, around, c6, BINS, SMOOTH)
    pl = object_probability(cl, inside, around, cl, BINS, SMOOTH)
    ps = spread_in_boxes(p6, image, inside, RADIUS)
    probs = [
        ps,
        p6,
        object_probability(c6, inside, around, c6, BINS, 1),
        object_probability(c4, inside, around, c4, 4, SMOOTH),
        object_probability(c8, inside, around, c8, 8, SMOOTH),
        pl,
        spread_in_boxes(pl, image, inside, RADIUS),
    ]
    # the pixel's place in its box, in box units
    rows = inside.any(2).float()
    cols = inside.any(1).float()
    y0, y1 = rows.argmax(1), H - rows.flip(1).argmax(1)
    x0, x1 = cols.argmax(1), W - cols.flip(1).argmax(1)
    yy = torch.arange(H, dtype=torch.float32, device=image.device)[None, :, None]
    xx = torch.arange(W, dtype=torch.float32, device=image.device)[None, None, :]
    v = (yy - y0[:, None, None] + 0.5) / (y1 - y0)[:, None, None]
    u = (xx - x0[:, None, None] + 0.5) / (x1 - x0)[:, None, None]
    r2 = ((u - 0.5) * 2) ** 2 + ((v - 0.5) * 2) ** 2
    side = torch.minimum(torch.minimum(u, 1 - u), torch.minimum(v, 1 - v)) * 2
    area = inside.flatten(1).sum(1).float()
    geometry = [
        r2,
        side,
        _logit(_per_box((ps * inside).flatten(1).sum(1) / area, r2)),
        _per_box(area / (H * W), r2),
        ps * side,
        _per_box(torch.log((x1 - x0).float() / (y1 - y0).float()), r2),
    ]
    return torch.stack([_logit(p) for p in probs] + geometry, -1)


class BoxCutScorer(torch.nn.Module):
    """``cut_features`` of one pixel -> the logit of its being the object; inputs standardised
    with the training set's mean and spread, which are stored with the weights."""

    def __init__(self, hidden: int = 16, threshold: float = 0.4):
        super().__init__()
        n = len(FEATURES)
        self.register_buffer("mean", torch.zeros(n))
        self.register_buffer("std", torch.ones(n))
        self.net = torch.nn.Sequential(
            torch.nn.Linear(n, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, 1),
        )
        self.threshold = threshold

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net((features - self.mean) / self.std).squeeze(-1)

    @classmethod
    def load(cls, path) -> "BoxCutScorer":
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        hidden, threshold = json.loads(meta.get("hidden", "16")), json.loads(meta.get("threshold", "0.4"))
        scorer = cls(hidden, threshold)
        scorer.load_state_dict(load_file(str(path)))
        return scorer.eval()


@functools.lru_cache(maxsize=1)
def default_scorer() -> BoxCutScorer:
    return BoxCutScorer.load(SCORER_PATH)


def cut_boxes(
    image: torch.Tensor,
    boxes: torch.Tensor,
    scorer: BoxCutScorer | None | str = "default",
    threshold: float = THRESHOLD,
    min_kept: float = MIN_KEPT,
    edge_radius: int = RADIUS,
) -> torch.Tensor:
    """``image`` [3, H, W] RGB in [0, 1]; ``boxes`` [K, H, W], 1 inside each rectangle.
    Returns each object's mask [K, H, W] in {0, 1}, inside its box; the box itself where its
    ring is out of the image or its cut keeps less than ``min_kept`` of it. ``scorer``: the
    learned cut ("default": the bundled one), or None for the colour rule, whose
    ``threshold`` and ``edge_radius`` (how far, in pixels, the probability is spread along
    similar colours; 0: not at all) apply. All boxes in one pass: the frame's colours and
    affinities are computed once."""
    out = boxes.clone()
    inside = boxes > 0.5
    around = surroundings(inside, RING)
    rows = torch.nonzero((around.flatten(1).sum(1) >= MIN_AROUND) & inside.flatten(1).any(1)).flatten()
    if len(rows) == 0:
        return out
    inside, around = inside[rows], around[rows]
    if scorer is None:
        colours = colour_index(image, BINS)
        p = spread_in_boxes(object_probability(colours, inside, around, colours), image, inside, edge_radius)
        cut = inside & (p > threshold)
    else:
        scorer = default_scorer() if isinstance(scorer, str) else scorer
        cut = torch.zeros_like(inside)
        x = cut_features(image, inside, around)[inside]
        cut[inside] = torch.sigmoid(scorer.to(x.device, x.dtype)(x)) > scorer.threshold  # the session's device
    kept = cut.flatten(1).sum(1) >= min_kept * inside.flatten(1).sum(1)
    out[rows[kept]] = cut[kept].to(out.dtype)
    return out


def cut_box(image: torch.Tensor, box: torch.Tensor, **settings) -> torch.Tensor:
    """One box [H, W] -> its object's mask [H, W] (``cut_boxes``)."""
    return cut_boxes(image, box[None], **settings)[0]
