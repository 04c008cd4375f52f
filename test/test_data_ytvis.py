"""YouTube-VIS / OVIS loader on a JSON fixture written here in the official format."""

import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from ausm_eval.errors import CorruptSampleError, DatasetFormatError
from ausm_train.data import OVISSource, YouTubeVISSource

H, W = 8, 10


def runs_column_major(mask):
    """Uncompressed COCO RLE counts, computed the slow obvious way."""
    counts, current, run = [], 0, 0
    for value in mask.T.reshape(-1):
        if int(value) != current:
            counts.append(run)
            current, run = int(value), 0
        run += 1
    counts.append(run)
    return counts


def compressed(mask):
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [H, W], "counts": rle["counts"].decode("ascii")}


def block(y0, y1, x0, x1):
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def write_fixture(root, annotations=True):
    for video, length in (("vid_a", 3), ("vid_b", 3)):
        (root / "JPEGImages" / video).mkdir(parents=True)
        for t in range(length):
            Image.fromarray(np.full((H, W, 3), 10 * t, np.uint8)).save(root / "JPEGImages" / video / f"{t:05d}.jpg")
    cat_masks = [block(1, 4, 1, 5), None, block(2, 6, 3, 8)]
    data = {
        "info": {},
        "licenses": [],
        "videos": [
            {"id": 1, "width": W, "height": H, "length": 3, "file_names": [f"vid_a/{t:05d}.jpg" for t in range(3)]},
            {"id": 2, "width": W, "height": H, "length": 3, "file_names": [f"vid_b/{t:05d}.jpg" for t in range(3)]},
        ],
        "categories": [
            {"id": 7, "name": "cat", "supercategory": "animal"},
            {"id": 3, "name": "dog", "supercategory": "animal"},
        ],
    }
    if annotations:
        data["annotations"] = [
            # YouTube-VIS 2019 style uncompressed RLE, null while absent, then OVIS-style compressed RLE.
            {
                "id": 11,
                "video_id": 1,
                "category_id": 7,
                "iscrowd": 0,
                "segmentations": [
                    {"size": [H, W], "counts": runs_column_major(cat_masks[0])},
                    None,
                    compressed(cat_masks[2]),
                ],
                "areas": [12, None, 20],
                "bboxes": [[1, 1, 4, 3], None, [3, 2, 5, 4]],
            },
            # COCO polygons: a square with corners (5,4) and (9,7) covers pixels x 5..8, y 4..6.
            {
                "id": 12,
                "video_id": 1,
                "category_id": 3,
                "iscrowd": 0,
                "segmentations": [[[5, 4, 9, 4, 9, 7, 5, 7]], [[5, 4, 9, 4, 9, 7, 5, 7]], None],
                "areas": [12, 12, None],
                "bboxes": [[5, 4, 4, 3], [5, 4, 4, 3], None],
            },
            {
                "id": 13,
                "video_id": 1,
                "category_id": 3,
                "iscrowd": 1,
                "segmentations": [None, None, None],
                "areas": [None] * 3,
                "bboxes": [None] * 3,
            },
            {"id": 99, "video_id": 42, "category_id": 3, "segmentations": [None]},
            # Broken entry: two segmentations for a three-frame video.
            {
                "id": 21,
                "video_id": 2,
                "category_id": 3,
                "iscrowd": 0,
                "segmentations": [None, None],
                "areas": [None, None],
                "bboxes": [None, None],
            },
        ]
    path = root / "train.json"
    path.write_text(json.dumps(data))
    return path, cat_masks


def test_all_segmentation_encodings(tmp_path):
    path, cat_masks = write_fixture(tmp_path)
    source = YouTubeVISSource(path, tmp_path / "JPEGImages")
    assert source.class_names == ["dog", "cat"]  # ascending category id: 3, 7
    assert source.category_id_of(1) == 7
    assert source.orphan_annotations == 1
    assert len(source) == 2 and source.video_names() == ["vid_a", "vid_b"]
    clip = source.load(0)
    assert clip.instance_ids.tolist() == [11, 12]  # the crowd region is not an instance
    assert clip.category_ids.tolist() == [1, 0]
    assert (clip.masks[0, 0] == cat_masks[0]).all()
    assert not clip.masks[0, 1].any()
    assert (clip.masks[0, 2] == cat_masks[2]).all()
    assert (clip.masks[1, 0] == block(4, 7, 5, 9)).all()
    assert clip.presence().tolist() == [[True, False, True], [True, True, False]]
    assert clip.annotated.all() and clip.frames[2, 0, 0, 0] in range(17, 24)


def test_frame_subset(tmp_path):
    path, cat_masks = write_fixture(tmp_path)
    clip = YouTubeVISSource(path, tmp_path / "JPEGImages").load(0, frames=[2])
    assert clip.frame_names == ["00002"]
    assert (clip.masks[0, 0] == cat_masks[2]).all() and not clip.masks[1, 0].any()


def test_bad_entry_only_breaks_its_video(tmp_path):
    path, _ = write_fixture(tmp_path)
    source = OVISSource(path, tmp_path / "JPEGImages")
    assert source.name == "ovis"
    with pytest.raises(CorruptSampleError, match="2 segmentations for 3 frames") as info:
        source.load(1)
    assert info.value.dataset == "ovis" and info.value.video == "vid_b"
    assert source.load(0).num_instances == 2


def test_bad_rle_and_missing_frame_are_corrupt(tmp_path):
    path, _ = write_fixture(tmp_path)
    data = json.loads(path.read_text())
    data["annotations"][0]["segmentations"][0] = {"size": [H + 1, W], "counts": "00"}
    path.write_text(json.dumps(data))
    with pytest.raises(CorruptSampleError, match="RLE size"):
        YouTubeVISSource(path, tmp_path / "JPEGImages").load(0)
    (tmp_path / "JPEGImages/vid_b/00001.jpg").unlink()
    with pytest.raises(CorruptSampleError, match="unreadable image"):
        YouTubeVISSource(path, tmp_path / "JPEGImages").load(1, frames=[1])


def test_valid_split_without_annotations(tmp_path):
    path, _ = write_fixture(tmp_path, annotations=False)
    clip = YouTubeVISSource(path, tmp_path / "JPEGImages").load(1)
    assert clip.num_instances == 0 and not clip.annotated.any()


def test_unparsable_json_is_a_format_error(tmp_path):
    (tmp_path / "bad.json").write_text("[1, 2")
    with pytest.raises(DatasetFormatError):
        YouTubeVISSource(tmp_path / "bad.json", tmp_path)
