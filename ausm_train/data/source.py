"""The interface every dataset loader implements: an indexed collection of videos
from which any subset of frames can be loaded as a VideoClip."""

from __future__ import annotations

import abc
from typing import Sequence

import numpy as np

from .types import VideoClip


class VideoSource(abc.ABC):
    """An indexed, read-only collection of annotated videos.

    ``name`` is the dataset name carried by every clip (it selects the
    per-dataset class head); ``class_names`` lists the classes that
    ``VideoClip.category_ids`` index, empty for class-agnostic data.
    """

    name: str
    class_names: list[str]

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def video_name(self, index: int) -> str: ...

    @abc.abstractmethod
    def num_frames(self, index: int) -> int: ...

    @abc.abstractmethod
    def load(
        self, index: int, frames: Sequence[int] | None = None, rng: np.random.Generator | None = None
    ) -> VideoClip:
        """Load frames ``frames`` (indices into the video, default all) of video
        ``index``. ``rng`` feeds sources that synthesise frames (COCO
        pseudo-videos); real videos ignore it. Raises CorruptSampleError for an
        unreadable sample."""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def video_names(self) -> list[str]:
        return [self.video_name(i) for i in range(len(self))]

    def _frame_indices(self, index: int, frames: Sequence[int] | None) -> list[int]:
        total = self.num_frames(index)
        if frames is None:
            return list(range(total))
        indices = [int(f) for f in frames]
        bad = [f for f in indices if not 0 <= f < total]
        if bad:
            raise IndexError(f"frames {bad} outside video {self.video_name(index)} of {total} frames")
        return indices


class FrameFolderSource(VideoSource):
    """A source whose videos are folders of frame files: ``videos`` names them and
    ``_frames[i]`` lists video i's frame paths (set by the subclass's constructor)."""

    videos: list[str]
    _frames: list[list]

    def __len__(self) -> int:
        return len(self.videos)

    def video_name(self, index: int) -> str:
        return self.videos[index]

    def num_frames(self, index: int) -> int:
        return len(self._frames[index])


class GeneratedVideoSource(VideoSource):
    """``num_videos`` videos rendered on demand by ``render(config, seed, index)`` (a
    pure function, so a data set regenerates bit for bit), for training without
    touching the disk. Subclasses set ``render`` and ``class_names``."""

    video_prefix = ""

    def __init__(self, config, num_videos: int = 1000, seed: int = 0):
        self.config = config
        self.num_videos = int(num_videos)
        self.seed = int(seed)
        self.name = config.name

    @staticmethod
    def render(config, seed: int, index: int) -> VideoClip:
        raise NotImplementedError

    def __len__(self) -> int:
        return self.num_videos

    def video_name(self, index: int) -> str:
        return f"{self.video_prefix}s{self.seed}_{index:05d}"

    def num_frames(self, index: int) -> int:
        return self.config.num_frames

    def load(
        self, index: int, frames: Sequence[int] | None = None, rng: np.random.Generator | None = None
    ) -> VideoClip:
        if not 0 <= index < self.num_videos:
            raise IndexError(index)
        clip = self.render(self.config, self.seed, index)
        return clip if frames is None else clip.select_frames(self._frame_indices(index, frames))
