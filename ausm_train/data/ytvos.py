"""YouTube-VOS 2018/2019 and MOSE in their official layout:

    ROOT/<split>/JPEGImages/<video>/00000.jpg, 00005.jpg, ...
    ROOT/<split>/Annotations/<video>/00000.png ...      palette PNG, pixel = object id
    ROOT/<split>/meta.json
        {"videos": {"<video>": {"objects": {"<id>": {"category": "<name>",
                                                      "frames": ["00000", ...]}}}}}

Objects may enter mid-video: the meta lists every object of the video and a
masklet stays empty before the object's first frame. In the valid split only an
object's first frame is annotated (and "category" is absent); frames without
an annotation PNG come back with ``annotated`` False.

MOSE ships the same layout; its meta file may sit at ROOT/meta_<split>.json, or
be missing, in which case objects are read from the annotation PNGs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ausm_eval.errors import CorruptSampleError, DatasetFormatError
from ausm_eval.io import list_frames, read_label_png, read_rgb

from .source import FrameFolderSource
from .types import NO_CATEGORY, VideoClip


def _find_meta(root: Path, split: str) -> Path | None:
    for candidate in (root / split / "meta.json", root / f"meta_{split}.json", root / split / f"meta_{split}.json"):
        if candidate.is_file():
            return candidate
    return None


class YouTubeVOSSource(FrameFolderSource):
    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        name: str = "ytvos19",
        meta_path: str | os.PathLike | None = None,
        with_categories: bool = False,
    ):
        self.root = Path(root)
        self.name = name
        self.image_dir = self.root / split / "JPEGImages"
        self.annotation_dir = self.root / split / "Annotations"
        if not self.image_dir.is_dir():
            raise DatasetFormatError(f"{self.image_dir} not found")
        meta_file = Path(meta_path) if meta_path is not None else _find_meta(self.root, split)
        self._objects: dict[str, dict[int, str | None]] | None = None
        if meta_file is not None:
            try:
                meta = json.loads(meta_file.read_text(encoding="utf-8"))
                videos = meta["videos"]
                self._objects = {
                    video: {int(k): v.get("category") for k, v in entry.get("objects", {}).items()}
                    for video, entry in videos.items()
                }
            except (OSError, ValueError, KeyError, AttributeError, TypeError) as error:
                raise DatasetFormatError(f"bad meta file {meta_file}: {error}") from error
            names = sorted(self._objects)
        else:
            names = sorted(p.name for p in self.image_dir.iterdir() if p.is_dir())
        self.class_names = []
        if with_categories:
            if self._objects is None:
                raise DatasetFormatError("with_categories needs a meta file")
            categories = {c for objs in self._objects.values() for c in objs.values()}
            if None in categories:
                raise DatasetFormatError("meta file has objects without 'category' (a valid split?)")
            self.class_names = sorted(categories)
        self._class_index = {c: i for i, c in enumerate(self.class_names)}
        self.videos = names
        self._frames = [list_frames(self.image_dir / v, (".jpg", ".jpeg")) for v in names]
        missing = [v for v, f in zip(names, self._frames) if not f]
        if missing:
            raise DatasetFormatError(f"videos without frames in {self.image_dir}: {missing[:5]}")

    def load(
        self, index: int, frames: Sequence[int] | None = None, rng: np.random.Generator | None = None
    ) -> VideoClip:
        video = self.videos[index]
        indices = self._frame_indices(index, frames)
        try:
            files = [self._frames[index][i] for i in indices]
            images = [read_rgb(f) for f in files]
            stems = [f.stem for f in files]
            h, w = images[0].shape[:2]
            labels = []
            for stem, image in zip(stems, images):
                png = self.annotation_dir / video / f"{stem}.png"
                lab = read_label_png(png) if png.is_file() else None
                if image.shape[:2] != (h, w) or (lab is not None and lab.shape != (h, w)):
                    raise CorruptSampleError(f"frame {stem} of {video}: image/annotation size mismatch")
                labels.append(lab)
            if self._objects is not None:
                objects = self._objects[video]
            else:
                found = set()
                for lab in labels:
                    if lab is not None:
                        found |= set(np.unique(lab).tolist())
                found.discard(0)
                objects = {int(i): None for i in found}
            object_ids = sorted(objects)
            masks = np.zeros((len(object_ids), len(indices), h, w), dtype=bool)
            for t, lab in enumerate(labels):
                if lab is not None:
                    for n, object_id in enumerate(object_ids):
                        masks[n, t] = lab == object_id
            categories = [self._class_index[objects[o]] if self.class_names else NO_CATEGORY for o in object_ids]
            return VideoClip(
                frames=np.stack(images),
                masks=masks,
                instance_ids=np.array(object_ids, dtype=np.int64),
                category_ids=np.array(categories, dtype=np.int64),
                dataset=self.name,
                video=video,
                frame_names=stems,
                annotated=np.array([lab is not None for lab in labels], dtype=bool),
            )
        except CorruptSampleError as error:
            error.dataset, error.video = self.name, video
            raise


def MOSESource(root: str | os.PathLike, split: str = "train", name: str = "mose", **kwargs) -> YouTubeVOSSource:
    """MOSE uses the YouTube-VOS layout; this only changes the default name."""
    return YouTubeVOSSource(root, split=split, name=name, **kwargs)
