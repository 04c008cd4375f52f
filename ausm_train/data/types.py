"""The one sample type every loader returns (the errors loaders raise are in ausm_eval.errors)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

# Category id of an instance that carries no class (VOS datasets, SA-V): the
# trainer then supervises only the class-agnostic objectness head.
NO_CATEGORY = -1


@dataclass
class VideoClip:
    """A clip of T frames with N instance masklets.

    frames:        uint8 [T, H, W, 3], RGB.
    masks:         bool [N, T, H, W]; an all-False frame means the instance is
                   absent there (not yet entered, left, fully occluded).
    instance_ids:  int64 [N], ids from the dataset (palette index, annotation id,
                   masklet id); unique within the clip.
    category_ids:  int64 [N], contiguous class index into the source's
                   ``class_names`` (so it can index a per-dataset class head), or
                   NO_CATEGORY (-1) for class-agnostic data.
    dataset:       name of the source dataset; selects the per-dataset class head.
    video:         video name inside that dataset.
    frame_names:   T names (file stems) of the frames, for writing predictions.
    annotated:     bool [T]; False where the dataset has no ground truth for that
                   frame (YouTube-VOS valid, SA-V 24 fps frames), so losses and
                   metrics must ignore the masks there rather than read them as
                   "absent".
    """

    frames: np.ndarray
    masks: np.ndarray
    instance_ids: np.ndarray
    category_ids: np.ndarray
    dataset: str
    video: str
    frame_names: list[str]
    annotated: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.frames = np.asarray(self.frames)
        t = self.frames.shape[0] if self.frames.ndim == 4 else 0
        if self.annotated is None:
            self.annotated = np.ones(t, dtype=bool)
        self.masks = np.asarray(self.masks, dtype=bool)
        if self.masks.ndim != 4 and self.masks.size == 0 and self.frames.ndim == 4:
            self.masks = np.zeros((0, *self.frames.shape[:3]), dtype=bool)
        self.instance_ids = np.asarray(self.instance_ids, dtype=np.int64).reshape(-1)
        self.category_ids = np.asarray(self.category_ids, dtype=np.int64).reshape(-1)
        self.annotated = np.asarray(self.annotated, dtype=bool).reshape(-1)
        self.frame_names = list(self.frame_names)
        self.validate()

    # -- shape facts -------------------------------------------------------
    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def num_instances(self) -> int:
        return int(self.masks.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    def presence(self) -> np.ndarray:
        """bool [N, T]: instance visible in frame (at least one pixel)."""
        return self.masks.reshape(self.num_instances, self.num_frames, self.height * self.width).any(axis=2)

    def label_map(self, t: int) -> np.ndarray:
        """int32 [H, W] label image of frame t: instance index + 1, 0 background.

        Where masks overlap (SA-V allows it) the later instance wins, as a
        palette PNG would store it.
        """
        labels = np.zeros((self.height, self.width), dtype=np.int32)
        for i in range(self.num_instances):
            labels[self.masks[i, t]] = i + 1
        return labels

    # -- consistency -------------------------------------------------------
    def validate(self) -> None:
        """Raise ValueError when the arrays do not describe one clip."""
        f, m = self.frames, self.masks
        if f.ndim != 4 or f.shape[3] != 3 or f.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 [T,H,W,3], got {f.dtype} {f.shape}")
        t, h, w = f.shape[:3]
        if m.ndim != 4 or m.shape[1:] != (t, h, w):
            raise ValueError(f"masks must be bool [N,{t},{h},{w}], got {m.shape}")
        n = m.shape[0]
        if self.instance_ids.shape != (n,) or self.category_ids.shape != (n,):
            raise ValueError(
                f"{n} masklets but {self.instance_ids.shape[0]} instance ids and "
                f"{self.category_ids.shape[0]} category ids"
            )
        if len(np.unique(self.instance_ids)) != n:
            raise ValueError(f"instance ids are not unique: {self.instance_ids.tolist()}")
        if len(self.frame_names) != t or self.annotated.shape != (t,):
            raise ValueError(
                f"{t} frames but {len(self.frame_names)} frame names and {self.annotated.shape[0]} annotated flags"
            )

    # -- derived clips -----------------------------------------------------
    def select_frames(self, indices: Sequence[int]) -> "VideoClip":
        idx = np.asarray(indices, dtype=np.int64)
        return replace(
            self,
            frames=self.frames[idx],
            masks=self.masks[:, idx],
            frame_names=[self.frame_names[i] for i in idx],
            annotated=self.annotated[idx],
        )

    def select_instances(self, keep: np.ndarray | Sequence[int] | Sequence[bool]) -> "VideoClip":
        keep = np.asarray(keep)
        if keep.dtype != bool:
            keep = keep.astype(np.int64)
        return replace(
            self,
            masks=self.masks[keep],
            instance_ids=self.instance_ids[keep],
            category_ids=self.category_ids[keep],
        )

    def drop_absent_instances(self) -> "VideoClip":
        """Keep only instances visible in at least one frame of the clip: an
        instance that never shows up gives the model nothing to learn from."""
        return self.select_instances(self.presence().any(axis=1))
