"""YouTube-VOS / MOSE loader on fixtures written here in the official layout."""

import json

import numpy as np
import pytest
from PIL import Image

from ausm_eval.errors import CorruptSampleError, DatasetFormatError
from ausm_train.data import MOSESource, YouTubeVOSSource

H, W = 10, 14


def palette_png(path, labels):
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    image.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0] + [0] * (256 * 3 - 12))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def frame_labels(t):
    """Object 1 always there; object 3 enters at frame 00010 (mid-video)."""
    lab = np.zeros((H, W), np.uint8)
    lab[1:4, 1:4] = 1
    if t >= 10:
        lab[5:9, 6 + t // 5 : 10 + t // 5] = 3
    return lab


def write_split(root, split, annotate=lambda video, t: True, meta=True, categories=True):
    """Two videos of frames 00000, 00005, 00010 (every 5th frame, as in train)."""
    videos = {"a1b2": [0, 5, 10], "c3d4": [0, 5]}
    meta_videos = {}
    for video, times in videos.items():
        for t in times:
            (root / split / "JPEGImages" / video).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((H, W, 3), 30 + t, np.uint8)).save(
                root / split / "JPEGImages" / video / f"{t:05d}.jpg"
            )
            if annotate(video, t):
                palette_png(root / split / "Annotations" / video / f"{t:05d}.png", frame_labels(t))
        objects = {"1": {"frames": [f"{t:05d}" for t in times]}}
        if video == "a1b2":
            objects["3"] = {"frames": ["00010"]}
        if categories:
            objects["1"]["category"] = "zebra"
            if "3" in objects:
                objects["3"]["category"] = "ape"
        meta_videos[video] = {"objects": objects}
    if meta:
        (root / split / "meta.json").write_text(json.dumps({"videos": meta_videos}))


def test_objects_entering_mid_video(tmp_path):
    write_split(tmp_path, "train")
    source = YouTubeVOSSource(tmp_path, "train")
    assert source.video_names() == ["a1b2", "c3d4"] and source.num_frames(0) == 3
    clip = source.load(0)
    assert clip.instance_ids.tolist() == [1, 3]
    assert clip.frame_names == ["00000", "00005", "00010"]
    assert clip.presence().tolist() == [[True, True, True], [False, False, True]]
    assert (clip.masks[1, 2] == (frame_labels(10) == 3)).all()
    assert clip.category_ids.tolist() == [-1, -1] and clip.dataset == "ytvos19"
    # A clip before the entry still lists the object (the meta knows it), empty.
    early = source.load(0, frames=[0, 1])
    assert early.instance_ids.tolist() == [1, 3] and not early.masks[1].any()
    assert early.drop_absent_instances().instance_ids.tolist() == [1]


def test_categories_from_meta(tmp_path):
    write_split(tmp_path, "train")
    source = YouTubeVOSSource(tmp_path, "train", with_categories=True)
    assert source.class_names == ["ape", "zebra"]
    assert source.load(0).category_ids.tolist() == [1, 0]


def test_valid_split_marks_unannotated_frames(tmp_path):
    # valid: only each object's first frame has a PNG; the meta has no categories.
    write_split(tmp_path, "valid", annotate=lambda video, t: t == 0 or (video == "a1b2" and t == 10), categories=False)
    clip = YouTubeVOSSource(tmp_path, "valid").load(0)
    assert clip.annotated.tolist() == [True, False, True]
    with pytest.raises(DatasetFormatError):
        YouTubeVOSSource(tmp_path, "valid", with_categories=True)


def test_mose_meta_location_and_missing_meta(tmp_path):
    write_split(tmp_path, "train", meta=False)
    (tmp_path / "meta_train.json").write_text(
        json.dumps(
            {
                "videos": {
                    "a1b2": {"objects": {"1": {"frames": []}, "3": {"frames": []}}},
                    "c3d4": {"objects": {"1": {"frames": []}}},
                }
            }
        )
    )
    mose = MOSESource(tmp_path, "train")
    assert mose.name == "mose" and mose.load(0).instance_ids.tolist() == [1, 3]
    (tmp_path / "meta_train.json").unlink()
    # No meta at all: objects are whatever the loaded annotations contain.
    scanned = MOSESource(tmp_path, "train")
    assert scanned.load(0).instance_ids.tolist() == [1, 3]
    assert scanned.load(0, frames=[0]).instance_ids.tolist() == [1]


def test_corrupt_annotation(tmp_path):
    write_split(tmp_path, "train")
    (tmp_path / "train/Annotations/c3d4/00005.png").write_bytes(b"\x89PNG broken")
    source = YouTubeVOSSource(tmp_path, "train")
    with pytest.raises(CorruptSampleError) as info:
        source.load(1)
    assert info.value.video == "c3d4"
    assert source.load(0).num_frames == 3


def test_bad_meta_is_a_format_error(tmp_path):
    write_split(tmp_path, "train")
    (tmp_path / "train/meta.json").write_text("{not json")
    with pytest.raises(DatasetFormatError):
        YouTubeVOSSource(tmp_path, "train")
