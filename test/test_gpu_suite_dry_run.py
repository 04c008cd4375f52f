"""bench/gpu_suite.py cannot rot: its dry run runs every part at tiny sizes on the CPU
(kernel compiled and checked on its host reference, the SSM comparison, training speed,
session.step in fp32 and bf16 with the state fp32, a long stream's memory, a real
TensorRT-RTX engine build) and writes JSON and Markdown."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import kernel_harness as kh

pytestmark = [pytest.mark.subprocess, pytest.mark.export]

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("kernel", "mamba_ssm", "train_speed", "session", "tensorrt_rtx")


def test_dry_run_runs_every_part(tmp_path):
    # one thread: on two shared cores torch's second thread only adds spin-waiting
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gpu_suite.py"), "--dry-run", "--out", str(tmp_path), "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads((tmp_path / "gpu_suite-dry-run.json").read_text())
    md = (tmp_path / "gpu_suite-dry-run.md").read_text()
    assert res["dry_run"] and list(res["parts"]) == list(PARTS)
    for name in PARTS:
        assert f"## {name}:" in md
    parts = {n: p for n, p in res["parts"].items()}
    expected_errors = set()
    if kh.find_nvcc() is None:
        expected_errors.add("kernel")
    if importlib.util.find_spec("tensorrt_rtx_bindings") is None:
        expected_errors.add("tensorrt_rtx")
    for name, part in parts.items():
        if name in expected_errors:
            assert part["status"] == "error", part
        else:
            assert part["status"] == "ok", (name, part.get("error"), part.get("traceback"))
    if "kernel" not in expected_errors:
        k = parts["kernel"]["result"]
        assert k["mamba1_vs_twin"]["max_abs_err_state"] < 1e-5 and k["mamba1_vs_twin"]["max_abs_err_y"] < 1e-4
        assert k["mamba2_layout_vs_reference"]["max_abs_err_state"] < 1e-4
        assert k["copy"]["bytes_per_s"] > 0 and len(k["bandwidth"]) == 2
    m = parts["mamba_ssm"]["result"]
    assert m["twin_parallel_vs_step"]["max_abs_err_y"] < 1e-4
    rows = parts["train_speed"]["result"]["rows"]
    assert {r["config"] for r in rows} == {"tiny", "swin_t"} and all(r["speedup"] > 0 for r in rows)
    sess = parts["session"]["result"]
    assert {(r["config"], r["precision"]) for r in sess["step"]} == {
        (c, p) for c in ("tiny", "swin_t") for p in ("fp32", "bf16")
    }
    assert all(r["state_dtypes"] == ["torch.float32"] for r in sess["step"])  # bf16 too
    assert sess["long_stream"]["frames_run"] == sess["long_stream"]["frames_wanted"]
    if "tensorrt_rtx" not in expected_errors:
        t = parts["tensorrt_rtx"]["result"]
        assert t["build_s"] > 0 and t["engine_mib"] > 1 and "no GPU" in t["run"]
