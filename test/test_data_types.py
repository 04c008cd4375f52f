"""The clip type, the error types, palette and segmentation codecs."""

import pickle

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from ausm_eval.errors import CorruptSampleError
from ausm_eval.io import voc_palette
from ausm_eval.segmentation import decode_segmentation, encode_rle, encode_uncompressed_rle, mask_bbox
from ausm_train.data import NO_CATEGORY, VideoClip


def make_clip(n=2, t=3, h=6, w=8):
    masks = np.zeros((n, t, h, w), dtype=bool)
    masks[0, :, 1:3, 1:3] = True
    if n > 1:
        masks[1, 1:, 4:6, 5:8] = True  # enters at frame 1
    return VideoClip(
        frames=np.zeros((t, h, w, 3), np.uint8),
        masks=masks,
        instance_ids=np.arange(1, n + 1),
        category_ids=np.full(n, NO_CATEGORY),
        dataset="d",
        video="v",
        frame_names=[f"{i:05d}" for i in range(t)],
    )


def test_clip_facts_and_presence():
    clip = make_clip()
    assert (clip.num_frames, clip.num_instances, clip.height, clip.width) == (3, 2, 6, 8)
    assert clip.annotated.tolist() == [True, True, True]
    assert clip.presence().tolist() == [[True, True, True], [False, True, True]]
    labels = clip.label_map(1)
    assert labels[2, 2] == 1 and labels[5, 7] == 2 and labels[0, 0] == 0


def test_clip_rejects_inconsistent_arrays():
    clip = make_clip()
    with pytest.raises(ValueError, match="masks"):
        VideoClip(clip.frames, clip.masks[:, :2], clip.instance_ids, clip.category_ids, "d", "v", clip.frame_names)
    with pytest.raises(ValueError, match="not unique"):
        VideoClip(clip.frames, clip.masks, [1, 1], clip.category_ids, "d", "v", clip.frame_names)
    with pytest.raises(ValueError, match="frame names"):
        VideoClip(clip.frames, clip.masks, clip.instance_ids, clip.category_ids, "d", "v", ["a"])
    with pytest.raises(ValueError, match="uint8"):
        VideoClip(
            clip.frames.astype(np.float32), clip.masks, clip.instance_ids, clip.category_ids, "d", "v", clip.frame_names
        )


def test_select_frames_and_drop_absent():
    clip = make_clip()
    first = clip.select_frames([0])
    assert first.frame_names == ["00000"] and first.masks.shape == (2, 1, 6, 8)
    kept = first.drop_absent_instances()
    assert kept.instance_ids.tolist() == [1]
    assert kept.category_ids.tolist() == [NO_CATEGORY]


def test_clip_without_instances():
    clip = VideoClip(np.zeros((2, 4, 4, 3), np.uint8), [], [], [], "d", "v", ["a", "b"])
    assert clip.masks.shape == (0, 2, 4, 4)
    assert clip.drop_absent_instances().num_instances == 0


def test_corrupt_sample_error_survives_pickling_and_reraise():
    # DataLoader workers re-raise an exception as type(exc)(message): it must work.
    error = CorruptSampleError("bad frame", "davis17", "bear")
    again = pickle.loads(pickle.dumps(error))
    assert isinstance(again, CorruptSampleError) and str(again) == "bad frame"
    assert isinstance(type(error)("message only"), CorruptSampleError)


def test_voc_palette_known_entries():
    palette = voc_palette()
    assert palette.shape == (256, 3)
    assert palette[:6].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128], [128, 0, 128]]
    assert palette[255].tolist() == [224, 224, 192]  # the "void" colour of DAVIS/VOC files


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools under numpy 2
def test_rle_round_trips():
    rng = np.random.default_rng(0)
    mask = rng.random((7, 9)) > 0.5
    assert (decode_segmentation(encode_rle(mask), 7, 9) == mask).all()
    unc = encode_uncompressed_rle(mask)
    assert sum(unc["counts"]) == 63
    assert (decode_segmentation(unc, 7, 9) == mask).all()
    # The uncompressed counts are column-major runs that start with background.
    tiny = np.array([[1, 0], [1, 1]], dtype=bool)
    assert encode_uncompressed_rle(tiny)["counts"] == [0, 2, 1, 1]
    assert (mask_utils.decode(mask_utils.frPyObjects(encode_uncompressed_rle(tiny), 2, 2)) == tiny).all()


def test_polygon_and_null_decoding():
    # A polygon tracing the pixel-corner square (1,1)-(4,4) covers pixels 1..3.
    m = decode_segmentation([[1, 1, 4, 1, 4, 4, 1, 4]], 6, 6)
    assert m.sum() == 9 and m[1:4, 1:4].all()
    assert decode_segmentation(None, 3, 4).shape == (3, 4)
    assert not decode_segmentation(None, 3, 4).any()


@pytest.mark.parametrize(
    "entry",
    [
        {"size": [5, 5], "counts": [3, 2]},  # counts do not cover h*w
        {"size": [4, 4], "counts": "abc"},  # wrong size for the frame
        {"counts": "0"},  # no size
        [[1, 2, 3, 4]],  # polygon with 2 points
        "nonsense",
    ],
)
def test_bad_segmentations_raise_value_error(entry):
    with pytest.raises(ValueError):
        decode_segmentation(entry, 5, 5)


def test_mask_bbox():
    m = np.zeros((5, 6), bool)
    m[1:3, 2:5] = True
    assert mask_bbox(m) == [2.0, 1.0, 3.0, 2.0]
    assert mask_bbox(np.zeros((2, 2), bool)) is None
