"""Write clips in the official DAVIS and YouTube-VIS layouts, so synthetic data
(or any VideoClip) goes through exactly the loaders real data uses."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

from ausm_eval.io import write_jpeg, write_json, write_label_png
from ausm_eval.segmentation import encode_rle, encode_uncompressed_rle, mask_area, mask_bbox

from ..data.types import VideoClip


class DavisWriter:
    """ROOT/JPEGImages/<resolution>/<video>/<frame>.jpg, palette PNG annotations in
    ROOT/Annotations/<resolution>/<video>/, and the split list in
    ROOT/ImageSets/<year>/<split>.txt. Object id k is instance k of the clip
    (1-based), so at most 255 instances. Where masks overlap the later one wins,
    as a label image forces."""

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        resolution: str = "480p",
        year: str = "2017",
        jpeg_quality: int = 95,
    ):
        self.root = Path(root)
        self.split = split
        self.resolution = resolution
        self.year = year
        self.jpeg_quality = jpeg_quality
        self.videos: list[str] = []

    def add(self, clip: VideoClip) -> None:
        if clip.num_instances > 255:
            raise ValueError("DAVIS palette PNGs hold at most 255 objects")
        for t, name in enumerate(clip.frame_names):
            write_jpeg(
                self.root / "JPEGImages" / self.resolution / clip.video / f"{name}.jpg",
                clip.frames[t],
                self.jpeg_quality,
            )
            write_label_png(self.root / "Annotations" / self.resolution / clip.video / f"{name}.png", clip.label_map(t))
        self.videos.append(clip.video)

    def close(self) -> Path:
        """Write the split file, keeping names already listed there."""
        split_file = self.root / "ImageSets" / self.year / f"{self.split}.txt"
        split_file.parent.mkdir(parents=True, exist_ok=True)
        known = split_file.read_text().split() if split_file.is_file() else []
        names = known + [v for v in self.videos if v not in known]
        split_file.write_text("".join(f"{n}\n" for n in names))
        return split_file


class YouTubeVISWriter:
    """ROOT/<split>/JPEGImages/<video>/<frame>.jpg and ROOT/<split>.json in the
    YouTube-VIS layout. Masks are stored as uncompressed RLE (as YouTube-VIS 2019
    does) or compressed RLE (as OVIS does); absent frames are null."""

    def __init__(
        self,
        root: str | os.PathLike,
        class_names: Sequence[str],
        split: str = "train",
        rle: str = "uncompressed",
        jpeg_quality: int = 95,
    ):
        if rle not in ("uncompressed", "compressed"):
            raise ValueError("rle must be 'uncompressed' or 'compressed'")
        self.root = Path(root)
        self.split = split
        self.rle = rle
        self.jpeg_quality = jpeg_quality
        self.categories = [{"id": i + 1, "name": n, "supercategory": "shape"} for i, n in enumerate(class_names)]
        self.videos: list[dict] = []
        self.annotations: list[dict] = []

    def add(self, clip: VideoClip) -> None:
        video_id = len(self.videos) + 1
        files = [f"{clip.video}/{name}.jpg" for name in clip.frame_names]
        for t, f in enumerate(files):
            write_jpeg(self.root / self.split / "JPEGImages" / f, clip.frames[t], self.jpeg_quality)
        self.videos.append(
            {"id": video_id, "width": clip.width, "height": clip.height, "length": clip.num_frames, "file_names": files}
        )
        encode = encode_uncompressed_rle if self.rle == "uncompressed" else encode_rle
        for n in range(clip.num_instances):
            segs, areas, boxes = [], [], []
            for t in range(clip.num_frames):
                m = clip.masks[n, t]
                present = bool(m.any())
                segs.append(encode(m) if present else None)
                areas.append(mask_area(m) if present else None)
                boxes.append(mask_bbox(m))
            category = int(clip.category_ids[n])
            if category < 0:
                raise ValueError("YouTube-VIS needs a category for every instance")
            self.annotations.append(
                {
                    "id": len(self.annotations) + 1,
                    "video_id": video_id,
                    "category_id": category + 1,
                    "iscrowd": 0,
                    "width": clip.width,
                    "height": clip.height,
                    "length": 1,
                    "segmentations": segs,
                    "areas": areas,
                    "bboxes": boxes,
                }
            )

    def close(self) -> Path:
        path = self.root / f"{self.split}.json"
        write_json(
            path,
            {
                "info": {"description": "ausm_train synthetic videos"},
                "licenses": [],
                "videos": self.videos,
                "annotations": self.annotations,
                "categories": self.categories,
            },
        )
        return path


def write_clips(
    clips: Iterable[VideoClip],
    out: str | os.PathLike,
    formats: Sequence[str],
    class_names: Sequence[str],
    split: str = "train",
) -> dict[str, Path]:
    """Write clips to OUT/davis and/or OUT/ytvis; returns format -> root."""
    out = Path(out)
    writers = {}
    if "davis" in formats:
        writers["davis"] = DavisWriter(out / "davis", split=split)
    if "ytvis" in formats:
        writers["ytvis"] = YouTubeVISWriter(out / "ytvis", class_names, split=split)
    if not writers:
        raise ValueError(f"no known format in {list(formats)}; use 'davis' and/or 'ytvis'")
    for clip in clips:
        for writer in writers.values():
            writer.add(clip)
    for writer in writers.values():
        writer.close()
    return {name: out / name for name in writers}
