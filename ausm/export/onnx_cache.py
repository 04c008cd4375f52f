"""Exported steps on disk, keyed by what determines the graph: weights, config, input size,
opset and the exporter's format. A node restart reuses the file instead of re-exporting."""

import hashlib
import json
import os
from pathlib import Path

import torch

from . import step_io


def cache_root():
    """$AUSM_CACHE_DIR, else $XDG_CACHE_HOME/ausm, else ~/.cache/ausm."""
    if os.environ.get("AUSM_CACHE_DIR"):
        return Path(os.environ["AUSM_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ausm"


def model_fingerprint(model):
    """sha256 over the config and every tensor of the state dict (names, dtypes, shapes, bytes)."""
    h = hashlib.sha256(model.config.to_json().encode())
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def cached_step_onnx(model, input_hw, cache_dir=None, opset=None, progress=False):
    """Path of the exported step for ``model`` at ``input_hw``; exports it when missing."""
    from .onnx_export import DEFAULT_OPSET, export_step, resolve_input_hw

    hw = resolve_input_hw(model, input_hw)
    opset = opset or DEFAULT_OPSET
    key = hashlib.sha256(json.dumps([model_fingerprint(model), hw, opset, step_io.FORMAT]).encode())
    d = Path(cache_dir) if cache_dir else cache_root() / "onnx"
    path = d / f"{model.config.name}-{hw[0]}x{hw[1]}-{key.hexdigest()[:16]}.onnx"
    if not path.exists():
        export_step(model, path, hw, opset, progress=progress)
    return path
