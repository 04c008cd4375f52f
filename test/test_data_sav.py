"""SA-V loaders on fixtures written here: the train format (mp4 + per-video
masklet JSON) and the val/test format (JPEG frames + per-object PNGs)."""

import json

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from ausm_eval.errors import CorruptSampleError
from ausm_train.data import SAVPngSource, SAVSource

H, W = 32, 48
FRAMES = 9  # 24 fps video: annotated frames 0, 4, 8
COLORS = [
    (200, 30, 30),
    (30, 200, 30),
    (30, 30, 200),
    (220, 220, 40),
    (40, 220, 220),
    (220, 40, 220),
    (120, 120, 120),
    (250, 250, 250),
    (10, 10, 10),
]


def rle(mask):
    r = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [H, W], "counts": r["counts"].decode("ascii")}


def masklet_mask(obj, i):
    m = np.zeros((H, W), bool)
    if obj == 0:
        m[4:14, 4 + 3 * i : 16 + 3 * i] = True
    elif i >= 1:  # object 1 appears in the second annotated frame
        m[18:30, 20:36] = True
    return m


def write_sav_train(root, with_auto=True):
    folder = root / "sav_000"
    folder.mkdir(parents=True)
    writer = cv2.VideoWriter(str(folder / "sav_000001.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 24, (W, H))
    assert writer.isOpened()
    for f in range(FRAMES):
        writer.write(np.full((H, W, 3), COLORS[f][::-1], np.uint8))  # BGR
    writer.release()
    annotated = range(0, FRAMES, 4)
    manual = {
        "video_id": "sav_000001",
        "video_duration": FRAMES / 24,
        "video_frame_count": float(FRAMES),
        "video_height": float(H),
        "video_width": float(W),
        "video_resolution": float(H * W),
        "video_environment": "Indoor",
        "video_split": "train",
        "masklet": [[rle(masklet_mask(0, i)), rle(masklet_mask(1, i))] for i in range(len(annotated))],
        "masklet_id": [0, 1],
        "masklet_size_rel": [0.1, 0.1],
        "masklet_size_abs": [120.0, 190.0],
        "masklet_size_bucket": ["small", "small"],
        "masklet_visibility_changes": [0, 1],
        "masklet_first_appeared_frame": [0, 1],
        "masklet_frame_count": [3, 3],
        "masklet_edited_frame_count": [3, 3],
        "masklet_type": ["manual", "manual"],
        "masklet_num": 2,
    }
    (folder / "sav_000001_manual.json").write_text(json.dumps(manual))
    if with_auto:
        auto = dict(
            manual,
            masklet=[[rle(masklet_mask(1, 2))] for _ in annotated],
            masklet_id=[0],
            masklet_num=1,
            masklet_type=["auto"],
            masklet_stability_score=[[0.9, 0.9, 0.9]],
        )
        (folder / "sav_000001_auto.json").write_text(json.dumps(auto))
    return folder


def test_train_format_decodes_annotated_frames(tmp_path):
    write_sav_train(tmp_path)
    source = SAVSource(tmp_path)
    assert source.video_names() == ["sav_000001"] and source.num_frames(0) == 3
    clip = source.load(0)
    assert clip.frame_names == ["00000", "00004", "00008"]
    assert clip.instance_ids.tolist() == [0, 1] and clip.category_ids.tolist() == [-1, -1]
    for t, i in enumerate(range(3)):
        assert (clip.masks[0, t] == masklet_mask(0, i)).all()
        assert (clip.masks[1, t] == masklet_mask(1, i)).all()
        # Frames are video frames 0, 4, 8 (lossy codec: compare loosely).
        assert np.abs(clip.frames[t].astype(int) - COLORS[4 * i]).mean() < 12
    sub = source.load(0, frames=[2])
    assert sub.frame_names == ["00008"] and np.abs(sub.frames[0].astype(int) - COLORS[8]).mean() < 12


def test_manual_and_auto_masklets(tmp_path):
    write_sav_train(tmp_path)
    both = SAVSource(tmp_path, annotation="both").load(0, frames=[0])
    assert both.instance_ids.tolist() == [1_000_000, 0, 1]  # auto first (sorted kinds), offset ids
    auto = SAVSource(tmp_path, annotation="auto").load(0, frames=[0])
    assert auto.instance_ids.tolist() == [0]
    assert (auto.masks[0, 0] == masklet_mask(1, 2)).all()


def test_extracted_frames_are_preferred(tmp_path):
    write_sav_train(tmp_path, with_auto=False)
    frames_root = tmp_path / "JPEGImages_24fps"
    (frames_root / "sav_000001").mkdir(parents=True)
    for f in range(FRAMES):
        Image.fromarray(np.full((H, W, 3), 7 * f, np.uint8)).save(frames_root / "sav_000001" / f"{f:05d}.jpg")
    clip = SAVSource(tmp_path, frames_root=frames_root).load(0)
    assert [int(clip.frames[t].mean().round()) for t in range(3)] == [0, 28, 56]


def test_corrupt_masklet_json_and_video(tmp_path):
    folder = write_sav_train(tmp_path, with_auto=False)
    data = json.loads((folder / "sav_000001_manual.json").read_text())
    data["masklet"][1] = [data["masklet"][1][0]]  # one RLE missing in frame 1
    (folder / "sav_000001_manual.json").write_text(json.dumps(data))
    source = SAVSource(tmp_path)
    source.load(0, frames=[0])
    with pytest.raises(CorruptSampleError, match="entries for 2 masklets"):
        source.load(0, frames=[1])
    (folder / "sav_000001_manual.json").write_text("{")
    with pytest.raises(CorruptSampleError, match="unreadable JSON"):
        SAVSource(tmp_path).load(0)
    write_sav_train(tmp_path / "other", with_auto=False)
    (tmp_path / "other/sav_000/sav_000001.mp4").write_bytes(b"junk")
    with pytest.raises(CorruptSampleError):
        SAVSource(tmp_path / "other").load(0)


def write_sav_val(root):
    (root / "sav_val.txt").write_text("sav_000123\n")
    for f in range(9):
        path = root / "JPEGImages_24fps/sav_000123" / f"{f:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((H, W, 3), 20 * f, np.uint8)).save(path)
    for obj in (0, 1):
        for f in range(0, 9, 4):
            m = masklet_mask(obj, f // 4)
            path = root / "Annotations_6fps/sav_000123" / f"{obj:03d}" / f"{f:05d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray((m * 255).astype(np.uint8), mode="L").save(path)


def test_val_format(tmp_path):
    write_sav_val(tmp_path)
    full = SAVPngSource(tmp_path, "sav_val")
    assert full.num_frames(0) == 9
    clip = full.load(0)
    assert clip.annotated.tolist() == [t % 4 == 0 for t in range(9)]
    assert clip.instance_ids.tolist() == [0, 1]
    assert (clip.masks[1, 4] == masklet_mask(1, 1)).all() and not clip.masks[1, 0].any()
    sparse = SAVPngSource(tmp_path, "sav_val", annotated_only=True)
    assert sparse.num_frames(0) == 3
    assert sparse.load(0).frame_names == ["00000", "00004", "00008"]
