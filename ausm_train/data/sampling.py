"""Turning videos into training clips: which T frames to take, then shared
augmentation, as a map-style dataset whose item i is a pure function of
(seed, epoch, i) so a resumed run sees exactly the clips it would have seen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ausm_eval.errors import CorruptSampleError

from .source import VideoSource
from .types import VideoClip


def sample_clip_indices(
    num_frames: int, clip_len: int, stride: int | tuple[int, int], rng: np.random.Generator
) -> list[int]:
    """T = clip_len frame indices in temporal order.

    stride: frame step, or an inclusive (min, max) range to draw it from. A video
    too short for the stride gets the largest stride that fits; one shorter than
    the clip is spread evenly with repeats, so every video yields a clip.
    """
    if num_frames < 1 or clip_len < 1:
        raise ValueError("need at least one frame and a clip length of at least 1")
    step = int(rng.integers(stride[0], stride[1] + 1)) if isinstance(stride, tuple) else int(stride)
    step = max(1, step)
    if clip_len > 1:
        step = min(step, max(1, (num_frames - 1) // (clip_len - 1)))
    span = (clip_len - 1) * step + 1
    if span > num_frames:
        return np.round(np.linspace(0, num_frames - 1, clip_len)).astype(int).tolist()
    start = int(rng.integers(0, num_frames - span + 1))
    return list(range(start, start + span, step))


@dataclass
class CorruptSample:
    """Stands in for a clip that could not be read, so the trainer can count and
    log it even when the error happened inside a DataLoader worker."""

    dataset: str
    video: str
    reason: str


class ClipDataset:
    """Clips of ``clip_len`` frames from one VideoSource (map-style: works with
    torch.utils.data.DataLoader by duck typing; no torch import here).

    Item i is video i with frames drawn by ``sample_clip_indices``, then
    ``augment(clip, rng)``, then instances never visible in the clip dropped, and
    at most ``max_instances`` kept (chosen at random). Randomness comes from
    (seed, epoch, i); call ``set_epoch`` each epoch.
    """

    def __init__(
        self,
        source: VideoSource,
        clip_len: int,
        stride: int | tuple[int, int] = 1,
        augment: Callable[[VideoClip, np.random.Generator], VideoClip] | None = None,
        max_instances: int | None = None,
        drop_absent: bool = True,
        seed: int = 0,
    ):
        self.source = source
        self.clip_len = int(clip_len)
        self.stride = stride
        self.augment = augment
        self.max_instances = max_instances
        self.drop_absent = drop_absent
        self.seed = int(seed)
        self.epoch = 0

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def class_names(self) -> list[str]:
        return self.source.class_names

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.source)

    def rng_for(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def clip(self, index: int, rng: np.random.Generator) -> VideoClip:
        frames = sample_clip_indices(self.source.num_frames(index), self.clip_len, self.stride, rng)
        clip = self.source.load(index, frames, rng=rng)
        if self.augment is not None:
            clip = self.augment(clip, rng)
        if self.drop_absent:
            clip = clip.drop_absent_instances()
        if self.max_instances is not None and clip.num_instances > self.max_instances:
            keep = np.sort(rng.choice(clip.num_instances, self.max_instances, replace=False))
            clip = clip.select_instances(keep)
        return clip

    def __getitem__(self, index: int) -> VideoClip:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.clip(index, self.rng_for(index))


class SkipCorrupt:
    """Wraps a dataset so that a CorruptSampleError comes back as a CorruptSample
    value instead of an exception; the trainer drops those from the batch and
    counts them. Other exceptions still propagate: they are bugs."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name):
        # Only called for attributes SkipCorrupt lacks; guarding "dataset" keeps
        # unpickling in DataLoader workers from recursing before it is set.
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, index: int):
        try:
            return self.dataset[index]
        except CorruptSampleError as error:
            return CorruptSample(dataset=error.dataset, video=error.video, reason=str(error))
