"""History masks carried to the new frame by colour affinity (ausm/propagation.py)."""

import numpy as np
import torch

from ausm import History, build_model
from ausm.propagation import affinities, align_history, clip_affinities, propagate
from ausm.session import StreamSession


def textured_square(t, hw=(48, 64), size=16, step=3, seed=0):
    """A square of its own random texture moving right by ``step`` px a frame over another
    texture; its [1, 3, H, W] image in [0, 1] and its [H, W] mask."""
    rng = np.random.default_rng(seed)
    background = rng.uniform(0.0, 0.4, (3, *hw))
    texture = rng.uniform(0.6, 1.0, (3, size, size))
    image = background.copy()
    y, x = 16, 8 + step * t
    image[:, y : y + size, x : x + size] = texture
    mask = np.zeros(hw, dtype=bool)
    mask[y : y + size, x : x + size] = True
    return torch.from_numpy(image).float()[None], torch.from_numpy(mask)


def quarter(mask):
    return torch.nn.functional.avg_pool2d(mask.float()[None, None], 4)[0]


def iou(a, b):
    return float((a & b).sum()) / float((a | b).sum())


def test_weights_are_a_distribution_over_pixels_inside_the_image():
    prev, _ = textured_square(0)
    image, _ = textured_square(1)
    w = affinities(prev, image, radius=2)
    assert w.shape == (1, 25, 48, 64)
    assert torch.allclose(w.sum(1), torch.ones(1, 48, 64), atol=1e-5)
    # the corner pixel has no neighbour up-left of it: those offsets get no weight
    assert float(w[0, 0, 0, 0]) == 0.0
    # a mask covering everything stays everything (no mass leaves through the border)
    assert torch.allclose(propagate(torch.ones(1, 1, 12, 16), w), torch.ones(1, 1, 12, 16), atol=1e-5)


def test_a_moving_object_is_followed_better_than_by_its_old_mask():
    prev, old = textured_square(0)
    image, new = textured_square(1)
    moved = propagate(quarter(old)[None], affinities(prev, image, radius=5))[0, 0]
    up = torch.nn.functional.interpolate(moved[None, None], size=new.shape, mode="bilinear")[0, 0] > 0.5
    static = torch.nn.functional.interpolate(quarter(old)[None], size=new.shape, mode="bilinear")[0, 0] > 0.5
    assert iou(up, new) > iou(static, new) + 0.1, (iou(up, new), iou(static, new))


def test_align_history_moves_previous_masks_and_keeps_prompts():
    frames = torch.cat([textured_square(t)[0] for t in range(3)])[None]  # [1, 3, 3, H, W]
    marks = torch.stack([quarter(textured_square(t)[1])[0] for t in (0, 0, 1)])  # prompt, then t-1 masks
    masks = torch.stack([marks, marks], dim=1)[None]  # [1, T, K=2, h, w]
    current = torch.tensor([[[True, True], [True, False], [False, False]]])
    history = History(torch.zeros(1, 3, 2, dtype=torch.long), masks, torch.ones(1, 3, 2, dtype=torch.bool), current)
    out = align_history(history, clip_affinities(frames, radius=5))
    assert torch.equal(out.id_masks[:, 0], masks[:, 0])  # frame 0: nothing before it
    assert torch.equal(out.id_masks[0, 1, 0], masks[0, 1, 0])  # already of frame 1 (a prompt)
    assert not torch.equal(out.id_masks[0, 1, 1], masks[0, 1, 1])  # of frame 0: moved
    assert not torch.equal(out.id_masks[0, 2], masks[0, 2])


def test_session_propagates_and_restores_bit_identically(tmp_path):
    torch.manual_seed(0)
    model = build_model("tiny", input_size=[64, 96], history_propagation=5).eval()
    video = [(textured_square(t, hw=(64, 96))[0][0].permute(1, 2, 0).numpy() * 255).astype(np.uint8) for t in range(8)]
    a = StreamSession(model, discovery=False)
    a.add_object(mask=textured_square(0, hw=(64, 96))[1].numpy(), image_size=(64, 96))
    for f in video[:3]:
        a.step(f)
    a.snapshot(tmp_path / "s.safetensors")
    b = StreamSession(model)
    b.restore(tmp_path / "s.safetensors")
    for f in video[3:]:
        ra, rb = a.step(f), b.step(f)
        assert np.array_equal(ra.masks, rb.masks) and np.array_equal(ra.track_ids, rb.track_ids)
    # the stored last frame is what makes the restored stream continue identically
    assert torch.equal(a._image, b._image)
