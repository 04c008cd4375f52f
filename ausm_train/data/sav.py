"""SA-V (Segment Anything Video), class-agnostic masklets.

Train split (per video an mp4 plus one or two JSONs, anywhere under ROOT):

    ROOT/sav_000/sav_000001.mp4
    ROOT/sav_000/sav_000001_manual.json
    ROOT/sav_000/sav_000001_auto.json
        {"video_id", "video_frame_count", "video_height", "video_width", ...,
         "masklet":    [[<RLE of object j in annotated frame i> for j] for i],
         "masklet_id": [int, ...], "masklet_num": int, ...}

Videos are 24 fps and annotated every 4th frame, so annotated frame i is video
frame 4*i; a clip's frames are the annotated frames. If the frames were
extracted to JPEG (FRAMES_ROOT/<video_id>/<video frame:05d>.jpg) they are read
from there, otherwise decoded from the mp4.

Val/test splits (``SAVPngSource``):

    ROOT/sav_val.txt                                    video ids
    ROOT/JPEGImages_24fps/<video_id>/00000.jpg ...
    ROOT/Annotations_6fps/<video_id>/<object:03d>/00000.png, 00004.png ...  (one binary PNG per object)

Masks of different objects may overlap in SA-V; VideoClip keeps them separate.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ausm_eval.errors import CorruptSampleError, DatasetFormatError
from ausm_eval.io import list_frames, read_json, read_label_png, read_rgb
from ausm_eval.segmentation import decode_segmentation

from .source import FrameFolderSource, VideoSource
from .types import NO_CATEGORY, VideoClip

ANNOTATION_STRIDE = 4
# Manual and auto masklet ids both count from 0; auto ids are shifted by this
# when both are loaded so that instance ids stay unique.
AUTO_ID_OFFSET = 1_000_000


def read_video_frames(path: str | os.PathLike, wanted: Sequence[int]) -> dict[int, np.ndarray]:
    """Decode the given frame indices (RGB) of a video by reading it in order;
    sequential reads avoid codec seek inaccuracy, grab() skips decoding."""
    wanted_set = set(int(w) for w in wanted)
    out: dict[int, np.ndarray] = {}
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise CorruptSampleError(f"cannot open video {path}")
        last = max(wanted_set) if wanted_set else -1
        for index in range(last + 1):
            if index in wanted_set:
                ok, frame = capture.read()
                if not ok:
                    break
                out[index] = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            elif not capture.grab():
                break
    finally:
        capture.release()
    missing = wanted_set - set(out)
    if missing:
        raise CorruptSampleError(f"video {path} ends before frame {min(missing)}")
    return out


class SAVSource(VideoSource):
    def __init__(
        self,
        root: str | os.PathLike,
        annotation: str = "manual",
        name: str = "sav",
        frames_root: str | os.PathLike | None = None,
    ):
        if annotation not in ("manual", "auto", "both"):
            raise ValueError("annotation must be 'manual', 'auto' or 'both'")
        self.root = Path(root)
        self.name = name
        self.class_names = []
        self.annotation = annotation
        self.frames_root = Path(frames_root) if frames_root is not None else None
        kinds = ["manual", "auto"] if annotation == "both" else [annotation]
        found: dict[str, dict[str, Path]] = {}
        for kind in kinds:
            for path in self.root.rglob(f"*_{kind}.json"):
                found.setdefault(path.name[: -len(f"_{kind}.json")], {})[kind] = path
        # "both" still admits videos with only manual masklets (SA-V has ~2k).
        self.videos = sorted(found)
        self._jsons = [found[v] for v in self.videos]
        if not self.videos:
            raise DatasetFormatError(f"no SA-V *_{annotation}.json files under {self.root}")
        self._lengths: dict[int, int] = {}
        # The JSON of the last video read: a sampler asks for the length and
        # then loads the same video, and these files run to megabytes.
        self._cached: tuple[int, list[tuple[str, dict]]] | None = None

    def __len__(self) -> int:
        return len(self.videos)

    def video_name(self, index: int) -> str:
        return self.videos[index]

    def _read(self, index: int) -> list[tuple[str, dict]]:
        if self._cached is not None and self._cached[0] == index:
            return self._cached[1]
        out = []
        for kind, path in sorted(self._jsons[index].items()):
            data = read_json(path)
            if not isinstance(data, dict) or not isinstance(data.get("masklet"), list):
                raise CorruptSampleError(f"{path} has no 'masklet' list", self.name, self.videos[index])
            out.append((kind, data))
        self._cached = (index, out)
        return out

    def num_frames(self, index: int) -> int:
        """Number of annotated frames (reads the JSON once, then cached)."""
        if index not in self._lengths:
            self._lengths[index] = min(len(d["masklet"]) for _, d in self._read(index))
        return self._lengths[index]

    def _images(self, index: int, video_frames: list[int]) -> list[np.ndarray]:
        video = self.videos[index]
        if self.frames_root is not None and (self.frames_root / video).is_dir():
            return [read_rgb(self.frames_root / video / f"{f:05d}.jpg") for f in video_frames]
        mp4 = next(iter(self._jsons[index].values())).with_name(f"{video}.mp4")
        decoded = read_video_frames(mp4, video_frames)
        return [decoded[f] for f in video_frames]

    def load(
        self, index: int, frames: Sequence[int] | None = None, rng: np.random.Generator | None = None
    ) -> VideoClip:
        video = self.videos[index]
        try:
            records = self._read(index)
            self._lengths[index] = min(len(d["masklet"]) for _, d in records)
            indices = self._frame_indices(index, frames)
            video_frames = [ANNOTATION_STRIDE * i for i in indices]
            images = self._images(index, video_frames)
            h, w = images[0].shape[:2]
            if any(im.shape[:2] != (h, w) for im in images):
                raise CorruptSampleError("frames of different sizes")
            ids, masks = [], []
            for kind, data in records:
                masklet_ids = [int(i) for i in data.get("masklet_id", [])]
                offset = AUTO_ID_OFFSET if (kind == "auto" and len(records) > 1) else 0
                for j, masklet_id in enumerate(masklet_ids):
                    per_frame = np.zeros((len(indices), h, w), dtype=bool)
                    for t, i in enumerate(indices):
                        row = data["masklet"][i]
                        if not isinstance(row, list) or len(row) != len(masklet_ids):
                            raise CorruptSampleError(
                                f"{kind} masklet frame {i} has "
                                f"{len(row) if isinstance(row, list) else 'no'} "
                                f"entries for {len(masklet_ids)} masklets"
                            )
                        try:
                            per_frame[t] = decode_segmentation(row[j], h, w)
                        except (ValueError, TypeError) as error:
                            raise CorruptSampleError(f"{kind} masklet {masklet_id} frame {i}: {error}") from error
                    ids.append(masklet_id + offset)
                    masks.append(per_frame)
            mask_array = np.stack(masks) if masks else np.zeros((0, len(indices), h, w), dtype=bool)
            return VideoClip(
                frames=np.stack(images),
                masks=mask_array,
                instance_ids=np.array(ids, dtype=np.int64),
                category_ids=np.full(len(ids), NO_CATEGORY, dtype=np.int64),
                dataset=self.name,
                video=video,
                frame_names=[f"{f:05d}" for f in video_frames],
            )
        except CorruptSampleError as error:
            error.dataset, error.video = self.name, video
            raise


class SAVPngSource(FrameFolderSource):
    """SA-V val/test: 24 fps JPEG frames, one binary PNG per object per annotated
    frame. ``annotated_only`` restricts a video to its annotated (6 fps) frames."""

    def __init__(
        self, root: str | os.PathLike, split: str = "sav_val", name: str = "sav", annotated_only: bool = False
    ):
        self.root = Path(root)
        self.name = name
        self.class_names = []
        list_file = self.root / f"{split}.txt"
        if list_file.is_file():
            self.videos = [l.strip() for l in list_file.read_text().splitlines() if l.strip()]
        else:
            self.videos = sorted(p.name for p in (self.root / "Annotations_6fps").iterdir() if p.is_dir())
        self.image_dir = self.root / "JPEGImages_24fps"
        self.annotation_dir = self.root / "Annotations_6fps"
        self._frames = []
        for video in self.videos:
            frames = list_frames(self.image_dir / video, (".jpg", ".jpeg"))
            if annotated_only:
                stems = {p.stem for obj in self._objects(video) for p in list_frames(obj, (".png",))}
                frames = [f for f in frames if f.stem in stems]
            if not frames:
                raise DatasetFormatError(f"SA-V video {video} has no frames")
            self._frames.append(frames)

    def _objects(self, video: str) -> list[Path]:
        directory = self.annotation_dir / video
        return sorted(p for p in directory.iterdir() if p.is_dir()) if directory.is_dir() else []

    def load(
        self, index: int, frames: Sequence[int] | None = None, rng: np.random.Generator | None = None
    ) -> VideoClip:
        video = self.videos[index]
        indices = self._frame_indices(index, frames)
        try:
            files = [self._frames[index][i] for i in indices]
            images = [read_rgb(f) for f in files]
            h, w = images[0].shape[:2]
            objects = self._objects(video)
            masks = np.zeros((len(objects), len(files), h, w), dtype=bool)
            annotated = np.zeros(len(files), dtype=bool)
            for n, obj in enumerate(objects):
                for t, f in enumerate(files):
                    png = obj / f"{f.stem}.png"
                    if png.is_file():
                        lab = read_label_png(png)
                        if lab.shape != (h, w):
                            raise CorruptSampleError(f"{png} size {lab.shape} differs from frame {(h, w)}")
                        masks[n, t] = lab > 0
                        annotated[t] = True
            return VideoClip(
                frames=np.stack(images),
                masks=masks,
                instance_ids=np.array([int(o.name) for o in objects], dtype=np.int64),
                category_ids=np.full(len(objects), NO_CATEGORY, dtype=np.int64),
                dataset=self.name,
                video=video,
                frame_names=[f.stem for f in files],
                annotated=annotated,
            )
        except CorruptSampleError as error:
            error.dataset, error.video = self.name, video
            raise
        except ValueError as error:  # an object folder whose name is not a number
            raise CorruptSampleError(f"{video}: {error}", self.name, video) from error
