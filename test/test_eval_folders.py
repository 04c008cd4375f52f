"""`python -m ausm_train eval --data davis|ytvis` on folders in the official layouts: palette
PNGs in DAVIS layout (scored equal to vos-benchmark), objects entering mid-video prompted
on their first frame, a YouTube-VIS results JSON, baselines printed, clear errors; and the
session pieces they rely on (class probabilities, read-only frames)."""

import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from ausm.checkpoint import save_checkpoint
from ausm.model import build_model
from ausm.session import StreamSession
from ausm_eval.io import read_label_png
from ausm_train.cli import main
from ausm_train.synthetic import SyntheticConfig, generate_video
from ausm_train.synthetic.shapes import SHAPE_CLASSES
from ausm_train.synthetic.writers import DavisWriter, YouTubeVISWriter


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model(
        "tiny",
        input_size=[64, 64],
        num_classes={"synthetic": len(SHAPE_CLASSES)},
        class_names={"synthetic": list(SHAPE_CLASSES)},
    )
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(model, path)
    return str(path)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    config = SyntheticConfig(
        height=48, width=64, num_frames=6, min_objects=2, max_objects=3, enter_prob=0.8, exit_prob=0.1
    )
    davis, ytvis = (
        DavisWriter(root / "davis", split="val"),
        YouTubeVISWriter(root / "ytvis", SHAPE_CLASSES, split="valid"),
    )
    entering = 0
    for i in range(3):
        clip = generate_video(config, 123, i).drop_absent_instances()
        entering += int((~clip.presence()[:, 0]).sum())
        davis.add(clip)
        ytvis.add(clip)
    davis.close()
    ytvis.close()
    assert entering > 0, "the fixture must have objects entering mid-video"
    return root


def _json(path):
    return json.loads(path.read_text())


def test_eval_davis_writes_pngs_scored_like_vos_benchmark(checkpoint, folders, tmp_path, capsys):
    benchmark = pytest.importorskip("vos_benchmark.benchmark").benchmark
    root, pred = folders / "davis", tmp_path / "pred"
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                checkpoint,
                "--data",
                "davis",
                "--root",
                str(root),
                "--out",
                str(pred),
                "--threads",
                "1",
                "--no-progress",
                "--json",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "static baseline" in printed and "empty baseline" in printed
    sequences = (root / "ImageSets" / "2017" / "val.txt").read_text().split()
    for seq in sequences:
        jpgs = sorted((root / "JPEGImages" / "480p" / seq).glob("*.jpg"))
        pngs = sorted((pred / seq).glob("*.png"))
        assert [p.stem for p in pngs] == [p.stem for p in jpgs]
        with Image.open(pngs[0]) as image:
            assert image.mode == "P" and image.size == Image.open(jpgs[0]).size
        # each object is prompted on the first frame it appears in, its mask the output there
        gt = np.stack([read_label_png(p) for p in sorted((root / "Annotations" / "480p" / seq).glob("*.png"))])
        out = np.stack([read_label_png(p) for p in pngs])
        for i in np.unique(gt[gt > 0]):
            first = int(np.flatnonzero((gt == i).any(axis=(1, 2)))[0])
            assert ((out[first] == i) == (gt[first] == i)).all()
    result = _json(tmp_path / "r.json")["davis"]["mask"]
    ref_jf, ref_j, ref_f, _ = benchmark(
        [str(root / "Annotations" / "480p")], [str(pred)], num_processes=1, verbose=False
    )
    assert result["summary"]["model"]["J&F-Mean"] * 100 == pytest.approx(ref_jf[0], abs=0.1)
    assert result["summary"]["model"]["J-Mean"] * 100 == pytest.approx(ref_j[0], abs=1e-9)
    assert set(result["summary"]) == {"model", "static", "empty"}
    assert result["summary"]["static"]["J&F-Mean"] > result["summary"]["empty"]["J&F-Mean"]

    # the Python route (a checkpoint path is enough) gives the same
    from ausm_train.evaluation import evaluate_davis

    direct = evaluate_davis(checkpoint, root, tmp_path / "pred2", progress=False)
    assert direct["summary"]["model"]["J&F-Mean"] == pytest.approx(result["summary"]["model"]["J&F-Mean"], abs=1e-12)

    # the score subcommand reads the same PNGs and says the same
    assert (
        main(
            [
                "score",
                "--data",
                "davis",
                "--root",
                str(root),
                "--pred",
                str(pred),
                "--no-progress",
                "--json",
                str(tmp_path / "s.json"),
            ]
        )
        == 0
    )
    again = _json(tmp_path / "s.json")["summary"]
    assert again["model"]["J&F-Mean"] == pytest.approx(result["summary"]["model"]["J&F-Mean"], abs=1e-12)


def test_eval_ytvis_writes_a_results_file(checkpoint, folders, tmp_path, capsys):
    ann = folders / "ytvis" / "valid.json"
    out = tmp_path / "results.json"
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                checkpoint,
                "--data",
                "ytvis",
                "--annotations",
                str(ann),
                "--images",
                str(folders / "ytvis" / "valid" / "JPEGImages"),
                "--out",
                str(out),
                "--threads",
                "1",
                "--foreground-threshold",
                "0.0",
                "--no-progress",
                "--json",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "6 classes matched by name" in printed and "class-agnostic" in printed
    gt = _json(ann)
    lengths = {v["id"]: v["length"] for v in gt["videos"]}
    results = _json(out)
    assert results, "a random model with threshold 0 still reports tracks"
    for entry in results:
        assert set(entry) == {"video_id", "category_id", "score", "segmentations"}
        assert len(entry["segmentations"]) == lengths[entry["video_id"]]
        assert entry["category_id"] in {c["id"] for c in gt["categories"]}
        assert any(s is not None and isinstance(s["counts"], str) for s in entry["segmentations"])
    summary = _json(tmp_path / "r.json")["ytvis"]
    assert 0.0 <= summary["AP"]["AP"] <= 1.0 and summary["AP_class_agnostic"]["AP"] >= 0.0
    assert (
        main(
            [
                "score",
                "--data",
                "ytvis",
                "--annotations",
                str(ann),
                "--results",
                str(out),
                "--json",
                str(tmp_path / "s.json"),
            ]
        )
        == 0
    )
    assert _json(tmp_path / "s.json")["class_aware"]["AP"] == pytest.approx(summary["AP"]["AP"], abs=1e-12)


def test_eval_ytvis_names_a_frame_of_the_wrong_size(checkpoint, folders, tmp_path, capsys):
    data = _json(folders / "ytvis" / "valid.json")
    data["videos"][0]["width"] += 8
    (tmp_path / "bad.json").write_text(json.dumps(data))
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                checkpoint,
                "--data",
                "ytvis",
                "--annotations",
                str(tmp_path / "bad.json"),
                "--images",
                str(folders / "ytvis" / "valid" / "JPEGImages"),
                "--out",
                str(tmp_path / "r.json"),
                "--threads",
                "1",
                "--no-progress",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "00000.jpg is 64x48, the JSON says 72x48" in err
    assert not (tmp_path / "r.json").exists()


def test_eval_refuses_a_folder_that_is_not_davis(checkpoint, tmp_path, capsys):
    (tmp_path / "JPEGImages" / "480p").mkdir(parents=True)
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                checkpoint,
                "--data",
                "davis",
                "--root",
                str(tmp_path),
                "--out",
                str(tmp_path / "p"),
                "--no-progress",
            ]
        )
        == 2
    )
    assert "Annotations" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", checkpoint, "--data", "ytvis", "--out", str(tmp_path / "p")]) == 2
    assert "--annotations and --images" in capsys.readouterr().err


def test_session_gives_class_probabilities_and_takes_read_only_frames(checkpoint):
    from ausm.checkpoint import load_checkpoint

    session = StreamSession(load_checkpoint(checkpoint), discovery=True, foreground_threshold=0.0)
    frame = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    frame.setflags(write=False)  # as a ROS message buffer or a decoded video frame is
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = session.step(frame)
    assert len(result) > 0
    assert result.class_probs.shape == (len(result), len(SHAPE_CLASSES))
    assert np.allclose(result.class_probs.sum(axis=1), 1.0, atol=1e-5)
    assert (result.class_probs.argmax(axis=1) == result.class_ids).all()
