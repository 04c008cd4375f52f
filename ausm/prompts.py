"""Prompts: what a caller tells a stream about objects, and their rasterisation.

A prompt is turned into a mask at the input image's size and, on the next ``step``,
painted into the history for that frame (the object's ID vector is written where the
mask is, exactly as the paper paints first-frame prompts onto X_0).
  * mask: used as given (bool, or float in [0, 1]).
  * box [x1, y1, x2, y2] in pixels: rasterised to a filled rectangle (pixel centres inside),
    which the session cuts down to its object on the prompt's frame (``ausm.box_cut``).
  * points [(x, y), ...] with labels (1 positive, 0 negative): discs of ``point_radius``
    pixels; positive discs are added to the mask, negative discs cut out of it
    (for REFINE, out of the object's current mask).
Rasterisation, not a learned prompt encoder: the network was only ever shown masks
in its history, so any prompt must reach it as one.
"""

import enum
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import torch


class PromptAction(enum.IntEnum):
    ADD = 0
    REFINE = 1
    REMOVE = 2
    RESET = 3


@dataclass
class Prompt:
    action: PromptAction = PromptAction.ADD
    track_id: Optional[int] = None  # the object's track id; ADD: the id wanted, or None (assigned)
    mask: Optional[np.ndarray] = None  # [H, W]
    box: Optional[Sequence[float]] = None  # x1, y1, x2, y2 in input pixels
    points: Optional[Sequence[Sequence[float]]] = None  # [(x, y), ...]
    point_labels: Optional[Sequence[int]] = None  # 1 positive, 0 negative (default 1)
    class_id: Optional[int] = None  # class to report for this object
    image_size: Optional[Sequence[int]] = None  # (H, W) the coordinates refer to


@dataclass
class RasterisedPrompt:
    """A checked prompt, rasterised at its image's size, queued for the next frame.
    Rasters are float32 [H, W] in {0, 1}; REMOVE has none."""

    action: PromptAction
    track_id: int
    base: Optional[np.ndarray] = None  # from the mask and/or box
    add: Optional[np.ndarray] = None  # positive point discs
    remove: Optional[np.ndarray] = None  # negative point discs
    class_id: int = -1  # the class to report for the object; -1: none given
    # the object's mask as the caller knows it (a mask, no box or positive points): on its
    # frame it is the object's output, as semi-supervised VOS reports a given mask
    exact: bool = False
    # ``base`` is a box alone (no mask): on its frame it is cut down to the object's colours
    # (``ausm.box_cut``), which needs that frame's image
    boxed: bool = False

    @property
    def sets_output(self) -> bool:
        """On its frame this prompt's mask is the object's output: a given mask, or a box cut
        down to its object (on held-out composites the cut, IoU 0.71, is far closer to the
        object than the network's mask on that frame, 0.41), either without positive points."""
        return (self.exact or self.boxed) and self.add is None

    def rasters(self) -> Dict[str, np.ndarray]:
        return {k: v for k, v in (("base", self.base), ("add", self.add), ("remove", self.remove)) if v is not None}

    def check_selects_pixels(self) -> None:
        """ADD and REFINE need some geometry; an ADD must select at least one pixel."""
        if self.base is None and self.add is None and self.remove is None:
            raise ValueError(f"{self.action.name} prompt needs a mask, a box or points")
        if self.action != PromptAction.ADD:
            return
        if self.base is None and self.add is None:
            raise ValueError("ADD prompt has only negative points: nothing selects the object")
        sel = self.base if self.base is not None else self.add
        if self.remove is not None:
            sel = sel * (1 - self.remove)
        if not sel.any():
            raise ValueError("ADD prompt selects no pixels")

    def paint(
        self,
        current: torch.Tensor,
        to_grid: Callable[[np.ndarray], torch.Tensor],
        base: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """The object's history mask after this prompt: ``base`` replaces ``current`` (the
        object's mask so far; zeros for ADD), positive discs are added, negative discs cut
        out. ``to_grid`` brings a raster onto the model's mask grid; a ``base`` given here
        is already on it (a box cut down to its object) and stands for ``self.base``."""
        if base is None and self.base is not None:
            base = to_grid(self.base)
        m = current if base is None else base
        if self.add is not None:
            m = torch.maximum(m, to_grid(self.add))
        if self.remove is not None:
            m = m * (1 - to_grid(self.remove))
        return m


def default_point_radius(hw: Sequence[int]) -> float:
    return max(4.0, 0.025 * min(hw))


def _finite(name, a):
    if not np.all(np.isfinite(a)):
        raise ValueError(f"prompt {name} contains NaN or infinite values")


def rasterise(
    prompt: Prompt, hw: Tuple[int, int], point_radius: Optional[float] = None
) -> Tuple[Optional[np.ndarray], Optional[np.ndarray], Optional[np.ndarray]]:
    """Returns (base, add, remove) float32 masks [H, W]: base from mask/box (None if
    neither given), add/remove from positive/negative points (None if no such points).
    Raises ValueError on anything malformed or outside the image."""
    H, W = hw
    base = None
    if prompt.mask is not None:
        m = np.asarray(prompt.mask)
        if m.ndim == 3 and m.shape[-1] == 1:
            m = m[..., 0]
        if m.ndim != 2:
            raise ValueError(f"prompt mask must be [H, W], got shape {m.shape}")
        if m.shape != (H, W):
            raise ValueError(f"prompt mask size {m.shape} does not match the image size {(H, W)}")
        if m.dtype.kind == "f":
            _finite("mask", m)
        if m.dtype.kind not in "biuf":
            raise ValueError(f"prompt mask dtype {m.dtype} not supported")
        base = (m > 0.5).astype(np.float32) if m.dtype.kind in "f" else (m > 0).astype(np.float32)
    if prompt.box is not None:
        b = np.asarray(prompt.box, dtype=np.float64).reshape(-1)
        if b.shape != (4,):
            raise ValueError(f"prompt box must be [x1, y1, x2, y2], got {b.shape[0]} numbers")
        _finite("box", b)
        x1, y1, x2, y2 = b
        if not (0 <= x1 < x2 <= W and 0 <= y1 < y2 <= H):
            raise ValueError(f"prompt box {b.tolist()} is empty or outside the image {W}x{H}")
        ys, xs = np.arange(H) + 0.5, np.arange(W) + 0.5
        rect = ((ys >= y1) & (ys <= y2))[:, None] & ((xs >= x1) & (xs <= x2))[None, :]
        if not rect.any():  # a sub-pixel box still marks the pixel it sits in
            rect[min(int(y1), H - 1), min(int(x1), W - 1)] = True
        base = rect.astype(np.float32) if base is None else np.maximum(base, rect)
    add = remove = None
    if prompt.points is not None and len(prompt.points):
        pts = np.asarray(prompt.points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError(f"prompt points must be [N, 2] (x, y), got shape {pts.shape}")
        _finite("points", pts)
        labels = (
            np.ones(len(pts), dtype=np.int64)
            if prompt.point_labels is None
            else np.asarray(prompt.point_labels).reshape(-1)
        )
        if len(labels) != len(pts):
            raise ValueError(f"{len(pts)} points but {len(labels)} point labels")
        if not np.isin(labels, (0, 1)).all():
            raise ValueError("point labels must be 1 (positive) or 0 (negative)")
        if not ((pts[:, 0] >= 0) & (pts[:, 0] <= W) & (pts[:, 1] >= 0) & (pts[:, 1] <= H)).all():
            raise ValueError(f"prompt point outside the image {W}x{H}: {pts.tolist()}")
        r = default_point_radius(hw) if point_radius is None else float(point_radius)
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32) + 0.5
        for lab in (1, 0):
            sel = pts[labels == lab]
            if not len(sel):
                continue
            disc = np.zeros((H, W), dtype=bool)
            for x, y in sel:
                disc |= (xx - x) ** 2 + (yy - y) ** 2 <= r * r
                disc[min(int(y), H - 1), min(int(x), W - 1)] = True
            if lab == 1:
                add = disc.astype(np.float32)
            else:
                remove = disc.astype(np.float32)
    return base, add, remove
