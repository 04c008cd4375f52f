"""COCO instances as pseudo-videos, on a COCO JSON fixture written here."""

import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from ausm_eval.errors import CorruptSampleError
from ausm_train.data import CocoPseudoVideoSource, RandomAffine

H, W = 40, 48


def write_coco(root):
    """Image 1: a red square (polygon) and a blue blob (compressed RLE) plus a
    crowd region; image 2 has no annotation; image 3 has a broken polygon."""
    root.mkdir(parents=True, exist_ok=True)
    img = np.full((H, W, 3), 90, np.uint8)
    img[10:20, 8:18] = (255, 0, 0)
    blob = np.zeros((H, W), bool)
    blob[25:35, 28:44] = True
    img[blob] = (0, 0, 255)
    Image.fromarray(img).save(root / "000000000001.png")  # PNG: exact colours for the warp check
    Image.fromarray(img).save(root / "000000000002.png")
    Image.fromarray(img).save(root / "000000000003.png")
    rle = mask_utils.encode(np.asfortranarray(blob.astype(np.uint8)))
    data = {
        "images": [{"id": i, "file_name": f"{i:012d}.png", "height": H, "width": W} for i in (1, 2, 3)],
        "categories": [
            {"id": 18, "name": "dog", "supercategory": "animal"},
            {"id": 1, "name": "person", "supercategory": "person"},
        ],
        "annotations": [
            {
                "id": 5,
                "image_id": 1,
                "category_id": 18,
                "iscrowd": 0,
                "area": 100.0,
                "bbox": [8, 10, 10, 10],
                "segmentation": [[8, 10, 18, 10, 18, 20, 8, 20]],
            },
            {
                "id": 6,
                "image_id": 1,
                "category_id": 1,
                "iscrowd": 0,
                "area": 160.0,
                "bbox": [28, 25, 16, 10],
                "segmentation": {"size": [H, W], "counts": rle["counts"].decode("ascii")},
            },
            {
                "id": 7,
                "image_id": 1,
                "category_id": 1,
                "iscrowd": 1,
                "area": 4.0,
                "bbox": [0, 0, 2, 2],
                "segmentation": {"size": [H, W], "counts": [0, 2, H - 2, 2, H * W - H - 4]},
            },
            {
                "id": 8,
                "image_id": 3,
                "category_id": 1,
                "iscrowd": 0,
                "area": 1.0,
                "bbox": [0, 0, 1, 1],
                "segmentation": [[0, 0, 1]],
            },
        ],
    }
    (root / "instances.json").write_text(json.dumps(data))
    return blob


def test_still_image_masks(tmp_path):
    blob = write_coco(tmp_path)
    source = CocoPseudoVideoSource(tmp_path / "instances.json", tmp_path, num_frames=4)
    assert len(source) == 2  # image 2 has no instance
    assert source.class_names == ["person", "dog"]
    still = source.load_image(0)
    assert still.instance_ids.tolist() == [5, 6]
    assert still.category_ids.tolist() == [1, 0]
    assert still.masks[0, 0, 10:20, 8:18].all() and still.masks[0, 0].sum() == 100
    assert (still.masks[1, 0] == blob).all()


def test_pseudo_video_warps_image_and_masks_together(tmp_path):
    write_coco(tmp_path)
    source = CocoPseudoVideoSource(
        tmp_path / "instances.json", tmp_path, num_frames=4, affine=RandomAffine(degrees=20, translate=0.1)
    )
    clip = source.load(0, frames=[0, 1, 2], rng=np.random.default_rng(3))
    assert clip.frames.shape == (3, H, W, 3) and clip.masks.shape == (2, 3, H, W)
    assert clip.category_ids.tolist() == [1, 0]
    for t in range(3):
        # Away from edges (where bilinear blends), masked pixels carry the object's colour.
        core = (
            clip.masks[0, t]
            & np.roll(clip.masks[0, t], 1, 0)
            & np.roll(clip.masks[0, t], -1, 0)
            & np.roll(clip.masks[0, t], 1, 1)
            & np.roll(clip.masks[0, t], -1, 1)
        )
        assert core.sum() > 30
        assert (clip.frames[t][core][:, 0] > 200).all() and (clip.frames[t][core][:, 2] < 60).all()
    # Each frame gets its own warp.
    assert not (clip.masks[0, 0] == clip.masks[0, 1]).all()
    # Without an rng the pseudo-video is a fixed function of the index.
    again = source.load(0, frames=[0, 1, 2])
    assert (again.frames == source.load(0, frames=[0, 1, 2]).frames).all()


def test_broken_polygon_is_corrupt(tmp_path):
    write_coco(tmp_path)
    source = CocoPseudoVideoSource(tmp_path / "instances.json", tmp_path)
    with pytest.raises(CorruptSampleError) as info:
        source.load(1)
    assert info.value.dataset == "coco" and info.value.video == "000000000003"
