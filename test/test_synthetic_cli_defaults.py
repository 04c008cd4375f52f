"""The synthetic data CLI writes, by default, videos like those the demo checkpoint was
trained on and `python -m ausm_train eval` scores (size, length, object counts)."""

from pathlib import Path

import yaml

from ausm_train.synthetic.__main__ import build_parser, training_defaults

DEMO = Path(__file__).resolve().parents[1] / "ausm_train" / "configs" / "demo.yaml"


def test_defaults_are_the_demo_training_settings():
    config = yaml.safe_load(DEMO.read_text())
    generator = next(s["args"]["config"] for s in config["data"]["sources"] if s["kind"] == "synthetic")
    args = build_parser().parse_args(["--out", "x"])
    assert args.size == (generator["width"], generator["height"])
    assert (args.min_objects, args.max_objects) == (generator["min_objects"], generator["max_objects"])
    assert args.frames == generator["num_frames"]
    # the eval CLI's held-out videos have as many frames
    from ausm_train.cli import build_parser as train_parser

    assert train_parser().parse_args(["eval", "--checkpoint", "c"]).frames == args.frames


def test_a_config_without_synthetic_source_falls_back_to_the_generator(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: {sources: [{kind: coco, args: {}}]}\n")
    assert training_defaults(path)["max_objects"] == 5 and training_defaults(tmp_path / "none.yaml")["height"] == 128
