"""History masks carried to the new frame by colour affinity (ausm/propagation.py)."""

import numpy as np
import torch

from ausm import History, build_model
from ausm.propagation import (
    add_detail,
    affinities,
    align_history,
    carry,
    carry_following,
    carry_near,
    clip_affinities,
    object_shifts,
    propagate,
    translate,
)
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


def test_a_fast_object_is_followed_by_its_own_shift():
    # 6 px a frame is beyond a radius of 2: colour propagation alone is left behind
    frames = [textured_square(t, step=6) for t in range(5)]
    plain = following = frames[0][1].float()[None]
    for (prev, _), (image, _) in zip(frames, frames[1:]):
        plain = carry_near(plain, prev, image, radius=2)
        following = carry_following(following, prev, image, object_shifts(prev, image, following, 4), radius=2)
    truth = frames[-1][1]
    assert iou(following[0] > 0.5, truth) > 0.9
    assert iou(plain[0] > 0.5, truth) < 0.5


def test_objects_carried_each_in_its_own_crop_equal_one_propagation_per_shift():
    # small objects, each moving its own way, one leaving the frame: the batch of crops
    # gives what a propagation over the whole frame per shift gives
    g = torch.Generator().manual_seed(3)
    prev, image = torch.rand(1, 3, 48, 64, generator=g), torch.rand(1, 3, 48, 64, generator=g)
    masks = torch.zeros(5, 48, 64)
    masks[0, 4:12, 4:14] = 1
    masks[1, 30:40, 20:26] = 0.7
    masks[2, 20:28, 56:64] = 1  # at the right edge, moving out
    masks[3, 0:6, 40:50] = 1
    shifts = [(2, 3), (-3, 0), (0, 6), (1, 1), (0, 0)]
    batched = carry_following(masks, prev, image, shifts, radius=2, most=5, crops_at_most=float("inf"))
    per_shift = carry_following(masks, prev, image, shifts, radius=2, most=5, crops_at_most=0)
    assert torch.allclose(batched, per_shift, atol=1e-6)
    assert batched[2].sum() > 0 and batched[4].sum() == 0


def test_the_search_keeps_up_with_an_object_faster_than_it_from_its_last_shift():
    # 6 px a frame, looked for within 3 px: around no motion it is lost, around its last shift it is not
    frames = [textured_square(t, step=6) for t in range(5)]
    around_still = around_last = frames[0][1].float()[None]
    motion = None
    for (prev, _), (image, _) in zip(frames, frames[1:]):
        still = object_shifts(prev, image, around_still, 3)
        around_still = carry_following(around_still, prev, image, still, radius=2)
        motion = object_shifts(prev, image, around_last, 3, motion)
        around_last = carry_following(around_last, prev, image, motion, radius=2)
    truth = frames[-1][1]
    assert motion == [(0, 6)]
    assert iou(around_last[0] > 0.5, truth) > 0.9
    assert iou(around_still[0] > 0.5, truth) < 0.6


def test_the_shift_follows_an_object_out_of_the_view_and_keeps_a_still_one():
    before, mask = textured_square(10, step=4)  # x = 48: the square touches the right edge
    leaving = translate(before, 0, 6)  # 6 of its 16 columns are now off the frame
    assert object_shifts(before, leaving, mask.float()[None], search=8) == [(0, 6)]
    assert object_shifts(before, before, mask.float()[None], search=8) == [(0, 0)]


def test_objects_of_different_sizes_each_get_their_own_shift_in_one_call():
    rng = np.random.default_rng(4)
    prev = rng.uniform(0.0, 0.4, (3, 48, 64))
    image = rng.uniform(0.0, 0.4, (3, 48, 64))
    masks = torch.zeros(4, 48, 64)
    # (top, left, height, width, shift): a square, a bar at the right edge leaving, a
    # small block, and a 3-pixel speck that is too small to match and stays
    objects = [(4, 4, 12, 12, (2, -3)), (20, 56, 6, 8, (1, 4)), (34, 20, 5, 9, (-2, 0)), (40, 50, 1, 3, (3, 3))]
    for k, (y, x, h, w, (dy, dx)) in enumerate(objects):
        texture = rng.uniform(0.6, 1.0, (3, h, w))
        prev[:, y : y + h, x : x + w] = texture
        landed = image[:, y + dy : y + dy + h, x + dx : x + dx + w]
        landed[...] = texture[:, : landed.shape[1], : landed.shape[2]]
        masks[k, y : y + h, x : x + w] = 1
    prev, image = torch.from_numpy(prev).float()[None], torch.from_numpy(image).float()[None]
    assert object_shifts(prev, image, masks, search=4) == [(2, -3), (1, 4), (-2, 0), (0, 0)]


def test_carrying_near_the_masks_equals_carrying_over_the_whole_frame():
    prev, old = textured_square(0, hw=(64, 96))
    image, _ = textured_square(1, hw=(64, 96))
    corner = torch.zeros(64, 96)
    corner[:3, -4:] = 1.0  # a second object at the image border: clipped crop, real padding
    masks = torch.stack([old.float(), torch.zeros(64, 96), corner * 0.5])
    whole = carry(masks[None], affinities(prev, image, radius=5))[0]
    near = carry_near(masks, prev, image, radius=5)
    assert torch.allclose(near, whole, atol=1e-6)
    assert torch.equal(near[1], torch.zeros(64, 96))  # an empty mask stays empty
    assert torch.equal(carry_near(torch.zeros(2, 64, 96), prev, image), torch.zeros(2, 64, 96))
    # on a flat image a mask spreads as a box blur: the crop must hold every pixel it reaches
    flat = torch.full((1, 3, 64, 96), 0.5)
    whole = carry(masks[None], affinities(flat, flat, radius=5))[0]
    assert torch.allclose(carry_near(masks, flat, flat, radius=5), whole, atol=1e-6)


def test_detail_sharpens_the_grid_and_leaves_empty_rows_alone():
    _, mask = textured_square(0, size=15)  # edges off the 4-pixel grid
    masks = torch.stack([mask.float(), torch.zeros_like(mask, dtype=torch.float32)])
    grid = torch.nn.functional.interpolate(masks[None], size=(12, 16), mode="area")[0]
    # logits that say exactly what the grid says, upsampled: the network reading it back
    logits = torch.nn.functional.interpolate(4 * (2 * grid[None] - 1), size=(48, 64), mode="bilinear")[0]
    blurred = iou(logits[0] > 0, mask)
    sharp = add_detail(logits, masks, grid, gain=5.0)
    assert iou(sharp[0] > 0, mask) > blurred and iou(sharp[0] > 0, mask) > 0.97, (iou(sharp[0] > 0, mask), blurred)
    assert torch.equal(sharp[1], logits[1])
    assert torch.equal(add_detail(logits, masks, grid, gain=0.0), logits)


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
    # propagated history is kept at the model input, not on the 1/4 grid
    assert a._masks.shape[-2:] == (64, 96)
    a.snapshot(tmp_path / "s.safetensors")
    b = StreamSession(model)
    b.restore(tmp_path / "s.safetensors")
    for f in video[3:]:
        ra, rb = a.step(f), b.step(f)
        assert np.array_equal(ra.masks, rb.masks) and np.array_equal(ra.track_ids, rb.track_ids)
    # the stored last frame is what makes the restored stream continue identically
    assert torch.equal(a._image, b._image)
