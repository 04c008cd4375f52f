"""Frames of any aspect ratio reach the model undistorted, and masks come back where they were."""

import numpy as np
import torch

from ausm.letterbox import Letterbox


def test_wide_frame_is_scaled_once_and_padded_with_the_fill():
    fit = Letterbox((272, 640), (96, 128))
    assert fit.inner_hw == (54, 128) and fit.offset == (21, 0)
    fill = torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)
    out = fit.image_to_model(torch.ones(1, 3, 272, 640), fill)
    assert out.shape == (1, 3, 96, 128)
    assert torch.allclose(out[0, :, :21], fill[0].expand(3, 21, 128))
    assert torch.allclose(out[0, :, 75:], fill[0].expand(3, 21, 128))
    assert torch.allclose(out[0, :, 21:75], torch.ones(3, 54, 128))


def test_same_aspect_is_a_plain_resize():
    fit = Letterbox((480, 640), (96, 128))
    assert fit.inner_hw == (96, 128) and fit.offset == (0, 0)


def test_masks_round_trip_through_the_grid():
    for image_hw in [(272, 640), (480, 360), (96, 128)]:
        fit = Letterbox(image_hw, (96, 128))
        H, W = image_hw
        mask = np.zeros(image_hw, dtype=bool)
        mask[H // 4 : H // 2, W // 3 : W // 3 + W // 4] = True
        grid = fit.mask_to_grid(torch.from_numpy(mask), (24, 32))
        back = fit.grid_to_image((grid * 2 - 1)[None])[0] > 0
        inter = (back.numpy() & mask).sum()
        union = (back.numpy() | mask).sum()
        assert inter / union > 0.85, (image_hw, inter / union)
        # nothing lands in the padding
        ih, iw = fit.inner_hw
        full = fit.mask_to_grid(torch.ones(image_hw), (24, 32))
        assert full.sum() <= (ih / 4 + 1) * (iw / 4 + 1)
