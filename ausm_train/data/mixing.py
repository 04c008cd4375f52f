"""Several clip datasets mixed with sampling weights, and batching of clips.

Each clip keeps its ``dataset`` name, which selects the per-dataset class head;
``class_heads()`` tells the model which heads to build.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .sampling import ClipDataset, CorruptSample
from .types import VideoClip


class MixedClipDataset:
    """``length`` items per epoch; item i picks a dataset with probability
    proportional to its weight, then a random video of it, all from
    (seed, epoch, i), so the mix is reproducible and resumable by index."""

    def __init__(
        self,
        datasets: Sequence[ClipDataset],
        weights: Sequence[float] | None = None,
        length: int | None = None,
        seed: int = 0,
    ):
        if not datasets:
            raise ValueError("no datasets to mix")
        names = [d.name for d in datasets]
        if len(set(names)) != len(names):
            raise ValueError(f"dataset names must be unique (they pick class heads): {names}")
        weights = np.ones(len(datasets)) if weights is None else np.asarray(weights, dtype=np.float64)
        if weights.shape != (len(datasets),) or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError("need one non-negative weight per dataset, not all zero")
        self.datasets = list(datasets)
        self.probabilities = weights / weights.sum()
        self.length = int(length) if length is not None else sum(len(d) for d in datasets)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        for d in self.datasets:
            d.set_epoch(epoch)

    def __len__(self) -> int:
        return self.length

    def class_heads(self) -> dict[str, int]:
        """Dataset name -> number of classes (0 for class-agnostic datasets)."""
        return {d.name: len(d.class_names) for d in self.datasets}

    def pick(self, index: int) -> tuple[int, int, np.random.Generator]:
        """(dataset position, video index, rng for the rest of the draw) of item ``index``."""
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        k = int(rng.choice(len(self.datasets), p=self.probabilities))
        video = int(rng.integers(len(self.datasets[k])))
        return k, video, rng

    def __getitem__(self, index: int) -> VideoClip:
        if not 0 <= index < self.length:
            raise IndexError(index)
        k, video, rng = self.pick(index)
        return self.datasets[k].clip(video, rng)


@dataclass
class ClipBatch:
    """A batch as the DataLoader hands it over: the good clips, and the samples
    that were skipped as corrupt (to be counted and logged by the trainer)."""

    clips: list[VideoClip] = field(default_factory=list)
    corrupt: list[CorruptSample] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.clips)

    def frames_tensor(self):
        """uint8 torch tensor [B, T, 3, H, W]; all clips must share T, H and W."""
        import torch  # only the trainer needs torch; loaders stay numpy-only

        shapes = {c.frames.shape for c in self.clips}
        if len(shapes) != 1:
            raise ValueError(f"clips differ in shape: {sorted(shapes)}; use ClipAugment(output_size=...)")
        return torch.from_numpy(np.stack([c.frames for c in self.clips])).permute(0, 1, 4, 2, 3).contiguous()


def collate_clips(items: Sequence[VideoClip | CorruptSample]) -> ClipBatch:
    """DataLoader ``collate_fn``: clips have different instance counts, so they
    stay a list instead of being stacked."""
    batch = ClipBatch()
    for item in items:
        if isinstance(item, CorruptSample):
            batch.corrupt.append(item)
        elif isinstance(item, VideoClip):
            batch.clips.append(item)
        else:
            raise TypeError(f"cannot collate {type(item).__name__}")
    return batch
