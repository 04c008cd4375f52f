"""A box prompt is cut down to the object inside it (``ausm.box_cut``), and on its frame the
session outputs that cut, not the rectangle."""

import numpy as np
import pytest
import torch
from helpers.colour_scene import SIZE, iou, scene
from helpers.scripted import ScriptedRunner

from ausm.box_cut import FEATURES, BoxCutScorer, cut_box, cut_boxes, cut_features
from ausm.colour_model import rgb_to_lab, surroundings
from ausm.session import StreamSession


def tensors(img, box_mask):
    return torch.from_numpy(img).permute(2, 0, 1).float() / 255, torch.from_numpy(box_mask).float()


def tight_rect(mask):
    ys, xs = np.nonzero(mask)
    rect = np.zeros_like(mask)
    rect[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] = True
    return rect


@pytest.mark.parametrize("scorer", ["default", None], ids=["learned", "colour rule"])
def test_the_cut_keeps_the_object_and_drops_the_corners(scorer):
    img, disc = scene()
    rect = tight_rect(disc)
    cut = cut_box(*tensors(img, rect), scorer=scorer).numpy() > 0.5
    assert iou(rect, disc) < 0.8  # the corners are background
    assert iou(cut, disc) > 0.9, iou(cut, disc)
    assert not (cut & ~rect).any()  # never outside the box


def test_spreading_along_colours_keeps_the_outline():
    """The box filter blurs P(object | colour) across the disc's outline; spread along the
    frame's colours it stays on its side, and the cut is the disc to the pixel."""
    img, disc = scene()
    rect = tight_rect(disc)
    spread = cut_box(*tensors(img, rect), scorer=None).numpy() > 0.5
    blurred = cut_box(*tensors(img, rect), scorer=None, edge_radius=0).numpy() > 0.5
    assert iou(spread, disc) > 0.99 > iou(blurred, disc), (iou(spread, disc), iou(blurred, disc))


def test_no_colour_difference_keeps_the_box_by_rule_and_its_middle_when_learned():
    """With no colour evidence the rule keeps the box; the learned cut falls back on where
    objects lie in their tight boxes: the middle, not the corners."""
    flat = np.full((SIZE, SIZE, 3), 128, np.uint8)
    rect = np.zeros((SIZE, SIZE), bool)
    rect[8:20, 6:22] = True
    assert np.array_equal(cut_box(*tensors(flat, rect), scorer=None).numpy() > 0.5, rect)
    learned = cut_box(*tensors(flat, rect)).numpy() > 0.5
    assert not (learned & ~rect).any() and learned[13:15, 13:15].all()
    assert not learned[[8, 8, 19, 19], [6, 21, 6, 21]].any()


def test_a_box_with_no_ring_around_it_is_kept():
    img, _ = scene()
    whole = np.ones((SIZE, SIZE), bool)
    assert np.array_equal(cut_box(*tensors(img, whole)).numpy() > 0.5, whole)


@pytest.mark.parametrize("scorer", ["default", None], ids=["learned", "colour rule"])
def test_boxes_cut_together_as_each_alone(scorer):
    """One pass for several boxes (the session's, when a frame gets several box prompts)
    gives each box what it gets alone, fallbacks included."""
    img, disc = scene()
    boxes = np.zeros((4, SIZE, SIZE), bool)
    boxes[0] = tight_rect(disc)
    boxes[1, 2:12, 20:30] = True  # background only
    boxes[2] = True  # the whole frame: no ring, the box is kept
    boxes[3, 20:30, 2:14] = True  # overlaps the disc's box
    image = tensors(img, boxes[0])[0]
    together = cut_boxes(image, torch.from_numpy(boxes).float(), scorer=scorer)
    alone = torch.stack([cut_box(image, torch.from_numpy(b).float(), scorer=scorer) for b in boxes])
    assert torch.equal(together, alone)
    assert torch.equal(together[2], torch.ones(SIZE, SIZE)) and iou(together[0].numpy() > 0.5, disc) > 0.99


def test_cielab_matches_scikit_image():
    color = pytest.importorskip("skimage.color")
    rgb = torch.rand(3, 20, 30, generator=torch.Generator().manual_seed(0))
    lab = torch.from_numpy(color.rgb2lab(rgb.permute(1, 2, 0).double().numpy())).permute(2, 0, 1).float()
    expected = torch.stack([lab[0] / 100, (lab[1] + 100) / 200, (lab[2] + 100) / 200])
    assert torch.allclose(rgb_to_lab(rgb), expected, atol=1e-5)


def test_features_place_each_pixel_in_its_own_box():
    img, disc = scene()
    boxes = torch.zeros(2, SIZE, SIZE, dtype=torch.bool)
    boxes[0, 4:12, 4:20] = True
    boxes[1, 10:30, 20:30] = True
    x = cut_features(tensors(img, disc)[0], boxes, surroundings(boxes))
    assert x.shape == (2, SIZE, SIZE, len(FEATURES)) and torch.isfinite(x).all()
    r2, side = x[..., FEATURES.index("squared distance from the box centre (1 at the middle of a side)")], x[..., 8]
    assert r2[0, 7:9, 11:13].max() < 0.05 and r2[1, 19:21, 24:26].max() < 0.05  # the centres
    assert torch.allclose(side[0, 4, 5:19], torch.full((14,), 1 / 8)) and side[1, 20, 25] > 0.8


def test_a_cut_fitted_on_scenes_cuts_an_unseen_one(tmp_path):
    """The fitting script's path end to end: boxes of scenes -> examples -> fit -> a saved
    file that loads to the same cut, which finds the disc of a scene it was not fitted on."""
    from ausm_train.box_cut_fit import examples, fit, save

    items = [(img, disc, tight_rect(disc)) for img, disc in (scene(seed) for seed in range(1, 4))]
    scorer = fit(*examples(items, progress=False), steps=150, batch=2000, progress=False)
    loaded = BoxCutScorer.load(save(scorer, tmp_path / "cut.safetensors", tmp_path))
    img, disc = scene(seed=9)
    image, rect = tensors(img, tight_rect(disc))
    cut = cut_box(image, rect, scorer=loaded)
    assert torch.equal(cut, cut_box(image, rect, scorer=scorer))
    assert iou(cut.numpy() > 0.5, disc) > 0.9, iou(cut.numpy() > 0.5, disc)


class Blind(ScriptedRunner):
    """The network sees nothing: whatever a track outputs on a prompt frame is the session's."""

    def __init__(self):
        super().__init__(input_size=[SIZE, SIZE], num_ids=4, num_det_queries=2, history_propagation=2)

    def rows(self, id_masks, id_valid):
        return torch.zeros(self.config.num_ids + self.config.num_det_queries, SIZE // 4, SIZE // 4, dtype=torch.bool)


def test_a_box_prompt_outputs_its_object_on_its_frame():
    img, disc = scene()
    ys, xs = np.nonzero(disc)
    session = StreamSession(Blind(), discovery=False)
    tid = session.add_object(box=[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], image_size=(SIZE, SIZE))
    result = session.step(img)
    assert list(result.track_ids) == [tid]
    assert iou(result.masks[0], disc) > 0.9, iou(result.masks[0], disc)


def test_box_prompts_on_one_frame_each_output_their_own_cut():
    img, disc = scene()
    ys, xs = np.nonzero(disc)
    session = StreamSession(Blind(), discovery=False)
    other = session.add_object(box=[20, 2, 30, 12], image_size=(SIZE, SIZE))
    tid = session.add_object(box=[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], image_size=(SIZE, SIZE))
    result = session.step(img)
    masks = dict(zip(result.track_ids.tolist(), result.masks))
    assert iou(masks[tid], disc) > 0.9, iou(masks[tid], disc)
    assert masks[other].any() and not (masks[other] & disc).any()


def test_a_queued_box_is_still_cut_after_a_snapshot(tmp_path):
    img, disc = scene()
    ys, xs = np.nonzero(disc)
    a = StreamSession(Blind(), discovery=False)
    a.step(img)
    a.add_object(box=[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    a.snapshot(tmp_path / "s.safetensors")
    b = StreamSession(Blind(), discovery=False)
    b.restore(tmp_path / "s.safetensors")
    result = b.step(img)
    assert len(result.track_ids) == 1 and iou(result.masks[0], disc) > 0.9


def test_the_session_cuts_a_box_as_its_setting_says():
    img, disc = scene()
    ys, xs = np.nonzero(disc)
    box = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    outputs = {}
    for how in ("learned", "colour", "box"):
        session = StreamSession(Blind(), discovery=False, box_cut=how)
        session.add_object(box=box, image_size=(SIZE, SIZE))
        outputs[how] = session.step(img).masks[0]
    assert iou(outputs["learned"], disc) > 0.9 and iou(outputs["colour"], disc) > 0.9
    assert np.array_equal(outputs["box"], tight_rect(disc))
    with pytest.raises(ValueError, match="box_cut"):
        StreamSession(Blind(), box_cut="grabcut")
