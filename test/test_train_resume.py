"""Stopping a run and resuming it, gracefully or by SIGKILL, continues the very same
run: the loss curve equals an uninterrupted run's step for step."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.train import train_config, write_config

from ausm_train.train.checkpointing import load_training_state
from ausm_train.train.config import config_from_dict
from ausm_train.train.run_log import read_loss_curve
from ausm_train.train.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
STEPS = 10


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    Trainer(config_from_dict(train_config(STEPS)), out).train()
    curve = read_loss_curve(out)
    assert sorted(curve) == list(range(1, STEPS + 1))
    return curve


def assert_same_curve(a, b):
    assert sorted(a) == sorted(b)
    for step in a:
        assert a[step] == pytest.approx(b[step], rel=1e-5, abs=1e-6), f"step {step}: {a[step]} vs {b[step]}"


def test_stop_after_k_then_resume_matches(uninterrupted, tmp_path):
    cfg = config_from_dict(train_config(STEPS))
    Trainer(cfg, tmp_path, stop_after=3).train()
    assert sorted(read_loss_curve(tmp_path)) == [1, 2, 3]
    assert load_training_state(tmp_path / "train_state.pt")["step"] == 3
    Trainer(cfg, tmp_path, resume=True).train()
    assert_same_curve(read_loss_curve(tmp_path), uninterrupted)
    assert "resumed at step 3" in (tmp_path / "events.log").read_text()


def test_checkpoint_holds_everything_needed(tmp_path):
    Trainer(config_from_dict(train_config(2)), tmp_path).train()
    state = load_training_state(tmp_path / "train_state.pt")
    assert {"model", "optimizer", "scheduler", "scaler", "rng", "step", "data_position"} <= set(state)
    assert set(state["rng"]) >= {"python", "numpy", "torch"}
    assert state["step"] == 2 and state["data_position"] == 2
    assert state["optimizer"]["state"], "AdamW moments are saved"
    assert not list(tmp_path.glob("*.tmp")), "no temporary files left behind"
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "model.json").exists()
    # the data's class names travel with the checkpoint (for the ROS node's labels)
    from ausm.checkpoint import read_checkpoint_config
    from ausm_train.synthetic import SHAPE_CLASSES

    assert read_checkpoint_config(tmp_path / "model.safetensors").class_names == {"synthetic": list(SHAPE_CLASSES)}


def run_cli(out, cfg_path, *extra):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, "-m", "ausm_train", "train", "--config", str(cfg_path), "--out", str(out), *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.subprocess
def test_sigkill_mid_run_then_resume_matches(uninterrupted, tmp_path):
    cfg_path = write_config(tmp_path / "cfg.yaml", train_config(STEPS))
    out = tmp_path / "run"
    proc = run_cli(out, cfg_path)
    state = out / "train_state.pt"
    deadline = time.time() + 120
    # kill as soon as a checkpoint past step 2 exists: mid-run, between or during writes
    while time.time() < deadline and proc.poll() is None:
        if state.exists():
            try:
                if load_training_state(state)["step"] >= 2:
                    break
            except Exception:  # caught mid-replace on a slow filesystem: look again
                pass
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed: " + proc.stdout.read().decode()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_at = load_training_state(state)["step"]
    assert 2 <= killed_at < STEPS

    resumed = run_cli(out, cfg_path, "--resume")
    log = resumed.communicate(timeout=300)[0].decode()
    assert resumed.returncode == 0, log[-3000:]
    assert_same_curve(read_loss_curve(out), uninterrupted)
    assert load_training_state(state)["step"] == STEPS


def test_refuses_to_overwrite_a_run_without_resume(tmp_path):
    cfg_path = write_config(tmp_path / "cfg.yaml", train_config(1))
    out = tmp_path / "run"
    assert run_cli(out, cfg_path).wait(timeout=300) == 0
    again = run_cli(out, cfg_path)
    text = again.communicate(timeout=300)[0].decode()
    assert again.returncode == 2 and "--resume" in text
