"""DAVIS 2017 loader on a fixture written here in the official layout."""

import numpy as np
import pytest
from PIL import Image

from ausm_eval.errors import CorruptSampleError, DatasetFormatError
from ausm_train.data import DavisSource

H, W = 12, 16


def palette_png(path, labels):
    """An indexed PNG the way DAVIS ships them: mode P, pixel = object id."""
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    palette = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0] + [0] * (256 * 3 - 12)
    palette[255 * 3 : 255 * 3 + 3] = [224, 224, 192]
    image.putpalette(palette)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def write_davis(root, annotate_all=True):
    """Two sequences. 'bear': 4 frames, object 1 a moving block, object 2 leaves
    after frame 1, a void (255) border on frame 0. 'car': 2 frames, one object."""
    labels = {}
    for name, length in (("bear", 4), ("car", 2)):
        for t in range(length):
            lab = np.zeros((H, W), np.uint8)
            lab[2:6, 1 + t : 5 + t] = 1
            if name == "bear" and t < 2:
                lab[8:11, 10:14] = 2
            if name == "bear" and t == 0:
                lab[0, :] = 255
            labels[name, t] = lab
            rgb = np.zeros((H, W, 3), np.uint8)
            rgb[..., 0] = 40 * t
            rgb[lab == 1] = (250, 10, 10)
            (root / "JPEGImages/480p" / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(rgb).save(root / "JPEGImages/480p" / name / f"{t:05d}.jpg", quality=98)
            if annotate_all or t == 0:
                palette_png(root / "Annotations/480p" / name / f"{t:05d}.png", lab)
    (root / "ImageSets/2017").mkdir(parents=True)
    (root / "ImageSets/2017/train.txt").write_text("bear\ncar\n")
    (root / "ImageSets/2017/val.txt").write_text("car\n")
    return labels


def test_loads_whole_sequences(tmp_path):
    labels = write_davis(tmp_path)
    source = DavisSource(tmp_path, "train")
    assert len(source) == 2 and source.video_names() == ["bear", "car"]
    assert source.num_frames(0) == 4 and source.class_names == []
    clip = source.load(0)
    assert clip.dataset == "davis17" and clip.video == "bear"
    assert clip.frames.shape == (4, H, W, 3) and clip.frames.dtype == np.uint8
    assert clip.instance_ids.tolist() == [1, 2]
    assert clip.category_ids.tolist() == [-1, -1]
    assert clip.frame_names == ["00000", "00001", "00002", "00003"]
    for t in range(4):
        assert (clip.masks[0, t] == (labels["bear", t] == 1)).all()
        assert (clip.masks[1, t] == (labels["bear", t] == 2)).all()
    # Void pixels belong to no object.
    assert not clip.masks[:, 0, 0, :].any()
    assert clip.presence()[1].tolist() == [True, True, False, False]
    # The frame is read as RGB: the object is red.
    assert clip.frames[1][3, 3, 0] > 200 and clip.frames[1][3, 3, 2] < 60


def test_loads_a_subset_of_frames_and_keeps_first_frame_objects(tmp_path):
    write_davis(tmp_path)
    clip = DavisSource(tmp_path, "train").load(0, frames=[2, 3])
    assert clip.frame_names == ["00002", "00003"]
    # Object 2 is gone by frame 2 but is a first-frame (prompted) object, so it stays listed.
    assert clip.instance_ids.tolist() == [1, 2]
    assert not clip.masks[1].any()
    with pytest.raises(IndexError):
        DavisSource(tmp_path, "train").load(1, frames=[2])


def test_val_split_and_unannotated_frames(tmp_path):
    write_davis(tmp_path, annotate_all=False)  # like test-dev: only frame 0 annotated
    source = DavisSource(tmp_path, "val")
    assert source.video_names() == ["car"]
    clip = source.load(0)
    assert clip.annotated.tolist() == [True, False]
    assert clip.masks[0, 0].any() and not clip.masks[0, 1].any()


def test_corrupt_frame_raises_corrupt_sample_error(tmp_path):
    write_davis(tmp_path)
    (tmp_path / "JPEGImages/480p/car/00001.jpg").write_bytes(b"not a jpeg")
    source = DavisSource(tmp_path, "train")
    source.load(0)  # the other sequence is fine
    with pytest.raises(CorruptSampleError) as info:
        source.load(1)
    assert info.value.dataset == "davis17" and info.value.video == "car"


def test_missing_split_is_a_format_error(tmp_path):
    write_davis(tmp_path)
    with pytest.raises(DatasetFormatError):
        DavisSource(tmp_path, "test-dev")
