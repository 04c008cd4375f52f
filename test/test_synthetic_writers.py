"""Synthetic data written in the DAVIS and YouTube-VIS layouts reads back
through the real-data loaders; the CLI writes both and is deterministic."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ausm_train.data import DavisSource, YouTubeVISSource
from ausm_train.synthetic import SHAPE_CLASSES, SyntheticConfig, generate_video
from ausm_train.synthetic.__main__ import main, training_defaults

REPO = Path(__file__).resolve().parents[1]


def tree_digest(root):
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_cli_writes_both_formats_that_the_loaders_read(tmp_path):
    assert (
        main(
            [
                "--out",
                str(tmp_path / "a"),
                "--videos",
                "3",
                "--frames",
                "5",
                "--size",
                "72x56",
                "--seed",
                "9",
                "--format",
                "both",
            ]
        )
        == 0
    )
    objects = {k: v for k, v in training_defaults().items() if k.endswith("_objects")}  # the CLI's defaults
    cfg = SyntheticConfig(height=56, width=72, num_frames=5, **objects)
    expected = [generate_video(cfg, 9, i) for i in range(3)]

    davis = DavisSource(tmp_path / "a/davis", "train")
    assert davis.video_names() == sorted(c.video for c in expected)
    ytvis = YouTubeVISSource(tmp_path / "a/ytvis/train.json", tmp_path / "a/ytvis/train/JPEGImages")
    assert ytvis.class_names == list(SHAPE_CLASSES) and len(ytvis) == 3
    for i, want in enumerate(expected):
        d = davis.load(davis.video_names().index(want.video))
        y = ytvis.load(i)
        for got in (d, y):
            assert got.video == want.video and got.frame_names == want.frame_names
            assert (got.masks == want.masks).all()  # masks are lossless in both formats
            # Frames went through JPEG, which smooths the sensor noise: close, not equal,
            # and far closer than to the next frame of another video.
            error = np.abs(got.frames.astype(int) - want.frames).mean()
            other = np.abs(got.frames.astype(int) - expected[(i + 1) % 3].frames).mean()
            assert error < 10 and error < other / 3
        assert y.category_ids.tolist() == want.category_ids.tolist()
        assert d.instance_ids.tolist() == want.instance_ids.tolist()

    # The palette PNGs are genuine indexed images and the JSON uses YouTube-VIS 2019 RLE.
    png = next((tmp_path / "a/davis/Annotations/480p").rglob("*.png"))
    assert Image.open(png).mode == "P"
    data = json.loads((tmp_path / "a/ytvis/train.json").read_text())
    seg = next(s for s in data["annotations"][0]["segmentations"] if s is not None)
    assert isinstance(seg["counts"], list) and seg["size"] == [56, 72]
    assert (tmp_path / "a/davis/ImageSets/2017/train.txt").read_text().split() == [c.video for c in expected]

    # Same arguments, same bytes.
    main(
        [
            "--out",
            str(tmp_path / "b"),
            "--videos",
            "3",
            "--frames",
            "5",
            "--size",
            "72x56",
            "--seed",
            "9",
            "--format",
            "both",
        ]
    )
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")


@pytest.mark.subprocess
def test_cli_single_format_split_and_progress(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ausm_train.synthetic",
            "--out",
            str(tmp_path),
            "--videos",
            "2",
            "--frames",
            "3",
            "--size",
            "40x32",
            "--seed",
            "1",
            "--format",
            "davis",
            "--split",
            "val",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "synthetic videos" in result.stderr and "2/2" in result.stderr  # tqdm progress bar
    assert not (tmp_path / "ytvis").exists()
    source = DavisSource(tmp_path / "davis", "val")
    assert len(source) == 2 and source.load(0).frames.shape == (3, 32, 40, 3)


@pytest.mark.subprocess
def test_cli_rejects_bad_size(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ausm_train.synthetic", "--out", str(tmp_path), "--size", "40"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "WxH" in result.stderr
