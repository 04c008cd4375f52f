"""DDP smoke test: two CPU processes (gloo) under torchrun train together; different
data on each, identical weights at the end (the gradient all-reduce works)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.train import train_config, write_config

pytestmark = pytest.mark.subprocess

ROOT = Path(__file__).resolve().parents[1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_training(tmp_path):
    cfg = write_config(tmp_path / "cfg.yaml", train_config(3))
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes=1",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        "-m",
        "ausm_train",
        "train",
        "--config",
        str(cfg),
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert summary["step"] == 3
    assert summary["ranks_in_sync"] is True
    assert (out / "model.safetensors").exists() and (out / "train_state.pt").exists()
    rows = (out / "train_log.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 3, "one CSV row per step, written by rank 0 only"
