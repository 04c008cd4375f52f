"""The command line and the shipped configs: every YAML parses into a valid training
config, overrides work, and `eval` runs end to end on a checkpoint the trainer wrote."""

import json
from pathlib import Path

import pytest
from helpers.train import train_config

from ausm import load_config
from ausm_train.cli import main
from ausm_train.train.config import config_from_dict, load_train_config, parse_overrides
from ausm_train.train.trainer import Trainer

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "ausm_train" / "configs").glob("*.yaml"))


def test_shipped_configs_parse_and_match_their_models():
    names = {p.stem for p in CONFIGS}
    assert {"demo", "stage1_coco", "stage2_video", "stage3_long"} <= names
    for path in CONFIGS:
        cfg = load_train_config(path)
        model = load_config(cfg.model, **cfg.model_overrides)
        for src in cfg.data.sources:
            # datasets with classes need a head of their name in the model
            if src["kind"] in ("coco", "ytvis", "ovis"):
                assert src["args"]["name"] in model.num_classes, (path.name, src["args"]["name"])
    assert load_train_config(CONFIGS[0].parent / "stage3_long.yaml").freeze_backbone


def test_overrides_and_unknown_keys():
    cfg = load_train_config(
        CONFIGS[0].parent / "demo.yaml", parse_overrides(["steps=7", "optim.lr=3e-4", "data.stride=[1, 3]"])
    )
    assert cfg.steps == 7 and cfg.optim.lr == 3e-4 and cfg.data.stride == [1, 3]
    with pytest.raises(ValueError, match="unknown keys in optim"):
        load_train_config(CONFIGS[0].parent / "demo.yaml", parse_overrides(["optim.lrr=1"]))


def test_eval_reports_jf_and_video_ap(tmp_path, capsys):
    Trainer(config_from_dict(train_config(1)), tmp_path).train()
    capsys.readouterr()
    out_json = tmp_path / "eval.json"
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                str(tmp_path / "model.safetensors"),
                "--num-videos",
                "2",
                "--frames",
                "4",
                "--threads",
                "1",
                "--json",
                str(out_json),
            ]
        )
        == 0
    )
    res = json.loads(out_json.read_text())
    for key in (
        "J&F (mask prompts)",
        "J&F (box prompts)",
        "video AP",
        "class-agnostic AP",
        "J&F static baseline",
        "J&F empty baseline",
    ):
        assert 0.0 <= res["headline"][key] <= 1.0
    assert res["prompted_mask_baselines"]["static"]["num_objects"] == res["prompted_mask"]["num_objects"]
    assert res["prompted_mask"]["num_objects"] > 0
    assert res["held_out"]["seed"] != 0, "held-out videos use a seed the training data did not"
    # the generator settings come from the training config stored in the checkpoint
    assert res["held_out"]["generator"]["height"] == 64
