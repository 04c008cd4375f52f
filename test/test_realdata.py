"""Real imagery: the held-out split stays held out, composites are reproducible and
well formed, the VGG16 port computes HED's edges, and distillation resumes exactly."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ausm.checkpoint import import_backbone
from ausm.model import build_model
from ausm_train.realdata import distill
from ausm_train.realdata.composite import CompositeConfig, cutout_bank, render_composite
from ausm_train.realdata.hed_vgg import HedVGG16
from ausm_train.realdata.pool import real_images
from ausm_train.train.data_factory import build_source


def _source_of(name):
    return name.split("#")[0]


def test_validation_images_never_appear_in_training():
    train = {_source_of(i.name) for i in real_images("train")}
    val = {_source_of(i.name) for i in real_images("val")}
    assert train and val and not train & val
    assert "bikes" in val  # the real footage of the README's tracking strip is never trained on
    assert {_source_of(c.source) for c in cutout_bank("val")} <= val
    assert {_source_of(c.source) for c in cutout_bank("train")} <= train


def test_composites_are_reproducible_and_well_formed():
    cfg = CompositeConfig(num_frames=10, split="val")
    a, b = render_composite(cfg, 3, 7), render_composite(cfg, 3, 7)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.masks, b.masks)
    assert not np.array_equal(a.frames, render_composite(cfg, 3, 8).frames)
    entered = left = 0
    for i in range(30):
        clip = render_composite(cfg, 0, i)
        assert clip.frames.shape == (10, 96, 128, 3) and clip.frames.dtype == np.uint8
        assert clip.masks.shape[1:] == (10, 96, 128)
        assert (clip.masks.sum(0) <= 1).all(), "one label per pixel"
        assert (clip.category_ids == -1).all()
        present = clip.masks.any(axis=(2, 3))  # [N, T]
        assert present.any(axis=1).all()
        entered += int((~present[:, 0] & present[:, -1]).sum())
        left += int((present[:, 0] & ~present[:, -1]).sum())
    assert entered and left, "objects must enter and leave the view"


def test_hed_port_finds_the_edges_of_a_square():
    model = HedVGG16().load_hed().eval()
    image = torch.zeros(1, 3, 96, 96)
    image[..., 32:64, 32:64] = 1.0
    with torch.no_grad():
        edges = model.edges(image)[0, 0]
    assert edges[32, 40:56].mean() > 0.5  # on the square's top edge
    assert edges[44:52, 44:52].mean() < 0.1  # inside it
    assert edges[5:15, 5:15].mean() < 0.1  # far from it


def test_distillation_resumes_exactly_and_its_backbone_loads(tmp_path):
    kw = dict(steps=4, batch=2, size_hw=(32, 32), lr=1e-3, seed=0, ckpt_every=2, model_config="tiny")
    straight = distill.run(tmp_path / "a", resume=False, **kw)
    distill.run(tmp_path / "b", resume=False, stop_after=2, **kw)  # interrupted
    assert torch.load(tmp_path / "b" / "state.pt", weights_only=True)["step"] == 2
    resumed = distill.run(tmp_path / "b", resume=True, **kw)
    a, b = load_file(straight), load_file(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    model = build_model("tiny")
    report = import_backbone(model, straight)
    assert report.ok and report.loaded == len(a)
    assert torch.equal(model.backbone.stem[0][0].weight, a["stem.0.0.weight"])


def test_resume_with_another_schedule_is_refused(tmp_path):
    kw = dict(batch=2, size_hw=(32, 32), lr=1e-3, seed=0, ckpt_every=1, model_config="tiny")
    distill.run(tmp_path, steps=2, resume=False, stop_after=1, **kw)
    with pytest.raises(ValueError, match="--steps"):
        distill.run(tmp_path, steps=3, resume=True, **kw)


def test_training_config_builds_the_composite_source():
    src = build_source(
        {
            "kind": "real_composite",
            "args": {"num_videos": 5, "seed": 1, "config": {"num_frames": 4, "area": [0.05, 0.1]}},
        }
    )
    clip = src.load(2, frames=[1, 3])
    assert clip.frames.shape[0] == 2 and src.class_names == []


def test_loss_curves_are_drawn_from_the_logs(tmp_path):
    import cv2

    from ausm_train.plots import plot

    run = tmp_path / "run"
    run.mkdir()
    rows = ["step,loss,objectness,class,mask,dice"] + [
        f"{s},{30 / s},{1 / s},{2 / s},{0.5},{0.4}" for s in range(10, 310, 10)
    ]
    (run / "train_log.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "distill").mkdir()
    (tmp_path / "distill" / "loss.json").write_text(json.dumps([4.0 - i / 100 for i in range(200)]))
    out = plot(run, tmp_path / "distill", tmp_path / "curves.png")
    image = cv2.imread(str(out))
    assert image is not None and image.shape[1] > image.shape[0] > 200
    assert image.std() > 10  # something was drawn
