"""The synthetic video generator: determinism and the scene events it promises
(occlusion, entering, leaving, scale change, camera motion, noise, classes)."""

import numpy as np
import pytest

from ausm_train.data import ClipAugment, ClipDataset
from ausm_train.synthetic import SHAPE_CLASSES, SyntheticConfig, SyntheticVideoSource, generate_video, render_scene
from ausm_train.synthetic.shapes import shape_mask

CFG = SyntheticConfig(height=64, width=80, num_frames=12)


@pytest.fixture(scope="module")
def scenes():
    return [render_scene(CFG, 3, i) for i in range(24)]


def test_same_seed_same_video_other_seed_other_video():
    a, b = generate_video(CFG, 1, 4), generate_video(CFG, 1, 4)
    assert (a.frames == b.frames).all() and (a.masks == b.masks).all()
    assert a.category_ids.tolist() == b.category_ids.tolist()
    c = generate_video(CFG, 2, 4)
    assert c.frames.shape == a.frames.shape and not (c.frames == a.frames).all()
    # A video depends on (seed, index) only, not on which videos came before.
    assert (SyntheticVideoSource(CFG, 10, seed=1).load(4).frames == a.frames).all()


def test_clip_structure(scenes):
    for clip, amodal in scenes:
        assert clip.frames.shape == (12, 64, 80, 3) and clip.frames.dtype == np.uint8
        assert clip.dataset == "synthetic" and clip.num_instances >= 1
        assert clip.instance_ids.tolist() == list(range(1, clip.num_instances + 1))
        assert ((0 <= clip.category_ids) & (clip.category_ids < len(SHAPE_CLASSES))).all()
        # Visible masks are disjoint, inside the amodal shapes, and every instance shows up.
        assert clip.masks.sum(axis=0).max() <= 1
        assert (clip.masks <= amodal).all()
        assert clip.presence().any(axis=1).all()


def test_scene_events_happen(scenes):
    occluded = entered = left = scaled = 0
    classes = set()
    for clip, amodal in scenes:
        presence = clip.presence()
        classes |= set(clip.category_ids.tolist())
        for n in range(clip.num_instances):
            frames = np.flatnonzero(presence[n])
            entered += frames[0] > 0
            left += frames[-1] < clip.num_frames - 1
            visible = clip.masks[n].sum(axis=(1, 2))
            whole = amodal[n].sum(axis=(1, 2))
            occluded += bool(((visible < whole) & (visible > 0)).any())
            areas = whole[whole > 0]
            scaled += areas.max() > 1.3 * areas.min()
    assert occluded >= 3 and entered >= 3 and left >= 3 and scaled >= 3
    assert classes == set(range(len(SHAPE_CLASSES)))


def test_camera_moves_and_frames_are_noisy():
    cfg = SyntheticConfig(height=64, width=80, num_frames=12, min_objects=1, max_objects=1, camera_speed=0.03)
    moved = 0
    for i in range(6):
        clip = generate_video(cfg, 0, i)
        background = ~clip.masks.any(axis=0)
        both = background[0] & background[-1]
        diff = np.abs(clip.frames[0].astype(int) - clip.frames[-1].astype(int))[both].mean()
        moved += diff > 12  # well above the noise floor
        # Sensor noise: neighbouring pixels of a flat object region differ.
        assert clip.frames.std() > 5
    assert moved >= 3


def test_shapes_are_distinct():
    v, u = np.mgrid[-1.3:1.3:131j, -1.3:1.3:131j]
    masks = {s: shape_mask(s, u, v) for s in SHAPE_CLASSES}
    for a in SHAPE_CLASSES:
        assert masks[a].sum() > 500 and not masks[a][0].any()  # inside the extent the renderer assumes
        for b in SHAPE_CLASSES:
            if a < b:
                iou = (masks[a] & masks[b]).sum() / (masks[a] | masks[b]).sum()
                assert iou < 0.85, (a, b)
    with pytest.raises(ValueError):
        shape_mask("hexagon", u, v)


def test_in_memory_training_clips():
    source = SyntheticVideoSource(CFG, num_videos=5, seed=0)
    assert source.class_names == list(SHAPE_CLASSES) and len(source) == 5
    ds = ClipDataset(source, clip_len=4, stride=(1, 2), augment=ClipAugment(output_size=(48, 48)))
    clip = ds[2]
    assert clip.frames.shape == (4, 48, 48, 3) and clip.num_instances >= 1
    assert clip.presence().any(axis=1).all()


def test_config_validation():
    with pytest.raises(ValueError):
        SyntheticConfig(min_objects=3, max_objects=2)
    with pytest.raises(ValueError):
        SyntheticConfig(classes=("disc", "blob"))
