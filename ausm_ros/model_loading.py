"""Checkpoint and backend selection for the node: which model, on which device, through what runtime."""
import os
from pathlib import Path

import torch

from ausm.checkpoint import load_checkpoint
from ausm.session import SessionSettings, StreamSession

BACKENDS = ("torch", "onnxruntime", "tensorrt")


def resolve_checkpoint(path):
    """'' means the bundled demo checkpoint; anything else must exist."""
    if not path:
        import ausm
        bundled = Path(ausm.__file__).resolve().parent / "checkpoints" / "demo_tiny.safetensors"
        if not bundled.exists():
            raise FileNotFoundError(f"the bundled demo checkpoint is missing ({bundled}); "
                                    "set the 'checkpoint' parameter to a .safetensors file")
        return str(bundled)
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint '{path}' does not exist")
    return path


def resolve_device(device):
    if device in ("", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device '{device}' requested but CUDA is not available to PyTorch")
    return device


def resolve_backend(backend, warn):
    """The backend to run; unavailable ones fall back to torch with a warning, never silently."""
    if backend not in BACKENDS:
        raise ValueError(f"backend '{backend}' unknown (choose from {', '.join(BACKENDS)})")
    if backend != "torch":
        warn(f"backend '{backend}' is not available in this build; falling back to 'torch'")
    return "torch"


class ModelHandle:
    """One loaded network shared by every stream; each stream gets its own session (state)."""

    def __init__(self, checkpoint, device, num_threads=0):
        if num_threads > 0:
            torch.set_num_threads(num_threads)
        self.checkpoint = checkpoint
        self.device = device
        self.model = load_checkpoint(checkpoint, device=device).eval()
        self.config = self.model.config
        self.class_head = next(iter(self.config.num_classes))
        names = getattr(self.config, "class_names", None) or {}
        self.class_names = list(names.get(self.class_head, []))

    def new_session(self, settings: SessionSettings):
        return StreamSession(self.model, settings)
