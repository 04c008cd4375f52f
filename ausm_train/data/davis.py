"""DAVIS 2017 in its official layout:

    ROOT/JPEGImages/480p/<sequence>/00000.jpg ...
    ROOT/Annotations/480p/<sequence>/00000.png ...   palette PNG, pixel = object id
    ROOT/ImageSets/2017/train.txt | val.txt          one sequence name a line

Object ids are the palette indices 1..K; 255 marks void pixels and, as in the
official evaluation code, is read as background. DAVIS has no classes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ausm_eval.errors import CorruptSampleError, DatasetFormatError
from ausm_eval.io import list_frames, read_label_png, read_rgb

from .source import VideoSource
from .types import NO_CATEGORY, VideoClip

VOID_LABEL = 255


class DavisSource(VideoSource):
    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        resolution: str = "480p",
        year: str = "2017",
        name: str = "davis17",
        sequences: Sequence[str] | None = None,
    ):
        self.root = Path(root)
        self.name = name
        self.class_names = []
        self.image_dir = self.root / "JPEGImages" / resolution
        self.annotation_dir = self.root / "Annotations" / resolution
        if sequences is None:
            split_file = self.root / "ImageSets" / year / f"{split}.txt"
            if not split_file.is_file():
                raise DatasetFormatError(f"DAVIS split file {split_file} not found")
            sequences = [line.strip() for line in split_file.read_text().splitlines() if line.strip()]
        self.sequences = list(sequences)
        # Frame lists are read once: sampling needs every video's length.
        self._frames = [list_frames(self.image_dir / s, (".jpg", ".jpeg")) for s in self.sequences]
        empty = [s for s, f in zip(self.sequences, self._frames) if not f]
        if empty:
            raise DatasetFormatError(f"DAVIS sequences without frames: {empty[:5]}")

    def __len__(self) -> int:
        return len(self.sequences)

    def video_name(self, index: int) -> str:
        return self.sequences[index]

    def num_frames(self, index: int) -> int:
        return len(self._frames[index])

    def _labels(self, sequence: str, stem: str) -> np.ndarray | None:
        path = self.annotation_dir / sequence / f"{stem}.png"
        if not path.is_file():
            return None
        labels = read_label_png(path).astype(np.int64)
        labels[labels == VOID_LABEL] = 0
        return labels

    def load(
        self, index: int, frames: Sequence[int] | None = None, rng: np.random.Generator | None = None
    ) -> VideoClip:
        sequence = self.sequences[index]
        indices = self._frame_indices(index, frames)
        try:
            images = [read_rgb(self._frames[index][i]) for i in indices]
            stems = [self._frames[index][i].stem for i in indices]
            labels = [self._labels(sequence, s) for s in stems]
            # Objects are those of the first annotated frame (the semi-supervised
            # prompt) plus any that show up in the loaded frames.
            first = self._labels(sequence, self._frames[index][0].stem)
            ids = set() if first is None else set(np.unique(first).tolist())
            for lab in labels:
                if lab is not None:
                    ids |= set(np.unique(lab).tolist())
            ids.discard(0)
            object_ids = sorted(ids)
            h, w = images[0].shape[:2]
            for name, image, lab in zip(stems, images, labels):
                if image.shape[:2] != (h, w) or (lab is not None and lab.shape != (h, w)):
                    raise CorruptSampleError(f"frame {name} of {sequence}: image/annotation size mismatch")
            masks = np.zeros((len(object_ids), len(indices), h, w), dtype=bool)
            for t, lab in enumerate(labels):
                if lab is not None:
                    for n, object_id in enumerate(object_ids):
                        masks[n, t] = lab == object_id
            return VideoClip(
                frames=np.stack(images),
                masks=masks,
                instance_ids=np.array(object_ids, dtype=np.int64),
                category_ids=np.full(len(object_ids), NO_CATEGORY, dtype=np.int64),
                dataset=self.name,
                video=sequence,
                frame_names=stems,
                annotated=np.array([lab is not None for lab in labels], dtype=bool),
            )
        except CorruptSampleError as error:
            error.dataset, error.video = self.name, sequence
            raise
