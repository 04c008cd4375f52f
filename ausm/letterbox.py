"""Fitting a camera image into the model's fixed input without distorting it.

The model runs at one input size (``ModelConfig.input_size``), so its recurrent
state has one shape whatever the camera. An image of another aspect ratio is
scaled by a single factor until it fits, centred, and the border is filled with
the normalisation mean (zero after normalisation, the value the network sees
least of as content). Squashing instead would change every object's shape
between cameras, and the network never saw squashed objects in training.

Prompt masks go the same way into the model's mask grid, and predicted masks come
back by cutting the image's area out of the grid and scaling it to the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Letterbox:
    image_hw: tuple[int, int]
    model_hw: tuple[int, int]

    @property
    def inner_hw(self) -> tuple[int, int]:
        """Size of the image inside the model input."""
        (H, W), (mh, mw) = self.image_hw, self.model_hw
        s = min(mh / H, mw / W)
        return min(mh, max(1, round(H * s))), min(mw, max(1, round(W * s)))

    @property
    def offset(self) -> tuple[int, int]:
        (mh, mw), (ih, iw) = self.model_hw, self.inner_hw
        return (mh - ih) // 2, (mw - iw) // 2

    @property
    def is_identity(self) -> bool:
        return tuple(self.image_hw) == tuple(self.model_hw)

    def _place(self, x: torch.Tensor, fill: torch.Tensor | float, mode: str) -> torch.Tensor:
        """x [N, C, H, W] -> [N, C, mh, mw]: resized into the inner box, border = fill."""
        (mh, mw), (ih, iw), (oy, ox) = self.model_hw, self.inner_hw, self.offset
        if tuple(x.shape[-2:]) != (ih, iw):
            kw = {"align_corners": False, "antialias": True} if mode == "bilinear" else {}
            x = F.interpolate(x, size=(ih, iw), mode=mode, **kw)
        if (ih, iw) == (mh, mw):
            return x
        out = x.new_empty(*x.shape[:2], mh, mw)
        out[:] = fill
        out[..., oy : oy + ih, ox : ox + iw] = x
        return out

    def image_to_model(self, image: torch.Tensor, fill_rgb: torch.Tensor) -> torch.Tensor:
        """image [1, 3, H, W] in [0, 1] -> [1, 3, mh, mw]; fill_rgb [1, 3, 1, 1] in [0, 1]."""
        return self._place(image, fill_rgb, "bilinear")

    def mask_to_grid(self, mask: torch.Tensor, grid_hw: tuple[int, int]) -> torch.Tensor:
        """A mask covering the whole image (any resolution) [h, w] -> [gh, gw] on the
        model's mask grid (area-averaged, so a thin prompt survives as a soft mask)."""
        x = mask[None, None].float()
        if self.inner_hw != tuple(self.model_hw):
            x = self._place(x, 0.0, "area")
        return F.interpolate(x, size=grid_hw, mode="area")[0, 0]

    def grid_to_image(self, logits: torch.Tensor) -> torch.Tensor:
        """logits [K, gh, gw] on the model's mask grid -> [K, H, W] over the image."""
        (mh, mw), (ih, iw), (oy, ox) = self.model_hw, self.inner_hw, self.offset
        x = logits[None]
        if (ih, iw) != (mh, mw):
            x = F.interpolate(x, size=(mh, mw), mode="bilinear", align_corners=False)
            x = x[..., oy : oy + ih, ox : ox + iw]
        return F.interpolate(x, size=tuple(self.image_hw), mode="bilinear", align_corners=False)[0]
