"""Training checkpoints that survive ``kill -9``.

One file holds everything a run needs to continue as if never stopped: model,
optimiser, LR scheduler, AMP grad scaler, the RNG states (python, numpy, torch, CUDA),
the step and the data position. It is written to a temporary file in the same
folder, flushed to disk and moved over the old one with ``os.replace`` (atomic on
POSIX), so a kill at any instant leaves either the old or the new checkpoint, never
half of one. Read back with ``torch.load(weights_only=True)``: no pickled code runs.
"""

import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch


def rng_state():
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "name": np_state[0],
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state):
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def atomic_torch_save(obj, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a checkpoint is meant to be shared
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_training_state(
    path, model, optimizer, scheduler, scaler, step, data_position, counters, config_dict, world_size=1, extra=None
):
    """data_position: micro-batches taken (per process); with the world size it fixes
    which items come next (see data_factory.ResumableBatches)."""
    atomic_torch_save(
        {
            "format": "ausm-train-state/1",
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": rng_state(),
            "step": int(step),
            "data_position": int(data_position),
            "world_size": int(world_size),
            "counters": dict(counters),
            "config": config_dict,
            **(extra or {}),
        },
        path,
    )


def load_training_state(path):
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if state.get("format") != "ausm-train-state/1":
        raise ValueError(f"{path} is not an ausm_train training checkpoint")
    return state
