"""Faults a long run meets: corrupt samples are skipped, logged and counted; a
non-finite loss skips its step without touching the weights; too many abort."""

import numpy as np
import pytest
import torch
from helpers.train import train_config

from ausm_eval.errors import CorruptSampleError
from ausm_train.data import CorruptSample
from ausm_train.synthetic import SyntheticConfig, SyntheticVideoSource
from ausm_train.train import data_factory
from ausm_train.train.config import config_from_dict
from ausm_train.train.data_factory import EpochItems, ResumableBatches, build_dataset
from ausm_train.train.trainer import NonFiniteLossError, Trainer


class FlakySource(SyntheticVideoSource):
    """Synthetic videos where every third one cannot be read."""

    def __init__(self, **args):
        super().__init__(SyntheticConfig(height=64, width=64, num_frames=3, max_objects=2), **args)
        self.name = "synthetic"

    def load(self, index, frames=None, rng=None):
        if index % 3 == 0:
            raise CorruptSampleError(f"broken file of video {index}", dataset=self.name, video=f"v{index}")
        return super().load(index, frames, rng)


@pytest.fixture
def flaky_kind(monkeypatch):
    monkeypatch.setitem(data_factory.SOURCES, "flaky", FlakySource)
    return {"kind": "flaky", "args": {"num_videos": 12, "seed": 0}}


def test_corrupt_samples_are_skipped_logged_and_counted(tmp_path, flaky_kind):
    cfg_dict = train_config(6)
    cfg_dict["data"]["sources"] = [flaky_kind]
    cfg = config_from_dict(cfg_dict)
    summary = Trainer(cfg, tmp_path).train()

    # what the run must have met: replay its sampler over the same dataset
    items = EpochItems(build_dataset(cfg.data))
    keys = [k for m in range(6) for k in ResumableBatches(len(items), 2).batch(m)]
    expected = sum(isinstance(items[k], CorruptSample) for k in keys)
    assert expected > 0, "the fixture should hit corrupt videos"
    assert summary["corrupt_samples"] == expected
    assert summary["step"] == 6 and summary["skipped_nonfinite"] == 0
    log = (tmp_path / "events.log").read_text()
    assert log.count("corrupt sample skipped") == expected
    assert "broken file of video" in log
    assert np.isfinite(summary["final_loss"])


def nan_on(steps):
    """Wrap a trainer's criterion so that the loss is NaN on the given steps (1-based)."""

    def install(trainer):
        real = trainer.criterion

        def criterion(outputs, targets, generator=None):
            loss, parts = real(outputs, targets, generator)
            if trainer.step + 1 in steps:
                loss = loss * float("nan")
            return loss, parts

        trainer.criterion = criterion

    return install


def test_nonfinite_loss_skips_the_step_and_leaves_weights_alone(tmp_path):
    trainer = Trainer(config_from_dict(train_config(4)), tmp_path)
    nan_on({2})(trainer)
    batches = trainer.batches()
    trainer.train_step(batches)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    moments = {k: v["exp_avg"].clone() for k, v in trainer.optimizer.state_dict()["state"].items()}
    _, _, updated = trainer.train_step(batches)
    assert not updated and trainer.counters["skipped_nonfinite"] == 1
    for k, v in trainer.model.state_dict().items():
        if v.is_floating_point():
            assert torch.equal(v, before[k]), f"{k} changed on a skipped step"
    for k, v in trainer.optimizer.state_dict()["state"].items():
        assert torch.equal(v["exp_avg"], moments[k])
    _, _, updated = trainer.train_step(batches)
    assert updated, "training goes on after a skipped step"
    assert any(not torch.equal(v, before[k]) for k, v in trainer.model.state_dict().items() if v.is_floating_point())
    assert "non-finite loss" in (tmp_path / "events.log").read_text()


def test_too_many_nonfinite_steps_abort_with_a_clear_message(tmp_path):
    trainer = Trainer(config_from_dict(train_config(10, max_nonfinite=2)), tmp_path)
    nan_on(set(range(1, 11)))(trainer)
    with pytest.raises(NonFiniteLossError, match="max_nonfinite=2") as err:
        trainer.train()
    assert "Lower optim.lr" in str(err.value)
    assert trainer.counters["skipped_nonfinite"] == 3 and trainer.step == 2  # the 3rd step aborted
    assert "aborting at step 3" in str(err.value)


def test_sampler_splits_items_between_ranks_without_overlap():
    per_rank = [[k for m in range(3) for k in ResumableBatches(10, 2, rank=r, world=2).batch(m)] for r in (0, 1)]
    flat = [e * 10 + i for e, i in per_rank[0] + per_rank[1]]
    assert sorted(flat) == list(range(12)), "ranks take disjoint items, and together all of them in order"
    assert ResumableBatches(10, 2, start=5).batch(5) == ResumableBatches(10, 2).batch(5)
    assert ResumableBatches(10, 4).batch(2) == [(0, 8), (0, 9), (1, 0), (1, 1)], "epochs wrap"
