"""YouTube-VIS 2019/2021 and OVIS: one JSON for the split,

    {"videos":      [{"id", "width", "height", "length", "file_names": ["<video>/00000.jpg", ...]}],
     "annotations": [{"id", "video_id", "category_id", "iscrowd",
                      "segmentations": [<RLE | polygons | null> per frame],
                      "areas": [...], "bboxes": [...]}],
     "categories":  [{"id", "name", "supercategory"}]}

with frames at IMAGE_ROOT/<file_name>. ``null`` means the instance is absent in
that frame. The valid/test JSONs have no "annotations": their clips come back
with ``annotated`` all False. Category ids map to contiguous indices in
ascending id order (``class_names[i]`` is the name of the i-th smallest id).
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from ausm_eval.errors import CorruptSampleError, DatasetFormatError
from ausm_eval.io import read_rgb
from ausm_eval.segmentation import decode_segmentation

from .source import VideoSource
from .types import VideoClip

log = logging.getLogger(__name__)


class YouTubeVISSource(VideoSource):
    def __init__(
        self,
        annotation_file: str | os.PathLike,
        image_root: str | os.PathLike,
        name: str = "ytvis19",
        skip_crowd: bool = True,
    ):
        self.image_root = Path(image_root)
        self.name = name
        try:
            data = json.loads(Path(annotation_file).read_text(encoding="utf-8"))
            videos = sorted(data["videos"], key=lambda v: v["id"])
            categories = sorted(data.get("categories") or [], key=lambda c: c["id"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise DatasetFormatError(f"bad YouTube-VIS file {annotation_file}: {error}") from error
        self.videos = videos
        self.category_ids = [int(c["id"]) for c in categories]
        self.class_names = [str(c.get("name", c["id"])) for c in categories]
        self._class_index = {cid: i for i, cid in enumerate(self.category_ids)}
        self.has_annotations = data.get("annotations") is not None
        known = {v["id"] for v in videos}
        self._annotations: dict[int, list[dict]] = defaultdict(list)
        # Entries we cannot attach to a video are reported, not fatal: the other
        # videos are still good.
        self.orphan_annotations = 0
        for ann in data.get("annotations") or []:
            if not isinstance(ann, dict) or ann.get("video_id") not in known:
                self.orphan_annotations += 1
                continue
            if skip_crowd and ann.get("iscrowd", 0):
                continue
            self._annotations[ann["video_id"]].append(ann)
        if self.orphan_annotations:
            log.warning(
                "%s: %d annotations refer to no video and were ignored", annotation_file, self.orphan_annotations
            )

    def __len__(self) -> int:
        return len(self.videos)

    def video_name(self, index: int) -> str:
        files = self.videos[index].get("file_names") or []
        return Path(files[0]).parent.name if files else str(self.videos[index]["id"])

    def video_id(self, index: int) -> int:
        return int(self.videos[index]["id"])

    def num_frames(self, index: int) -> int:
        return len(self.videos[index].get("file_names") or [])

    def category_id_of(self, class_index: int) -> int:
        """Dataset category id of a contiguous class index (for writing results)."""
        return self.category_ids[class_index]

    def load(
        self, index: int, frames: Sequence[int] | None = None, rng: np.random.Generator | None = None
    ) -> VideoClip:
        video = self.videos[index]
        name = self.video_name(index)
        indices = self._frame_indices(index, frames)
        try:
            length = self.num_frames(index)
            files = [video["file_names"][i] for i in indices]
            images = [read_rgb(self.image_root / f) for f in files]
            h, w = int(video.get("height", images[0].shape[0])), int(video.get("width", images[0].shape[1]))
            for f, image in zip(files, images):
                if image.shape[:2] != (h, w):
                    raise CorruptSampleError(f"frame {f} is {image.shape[1]}x{image.shape[0]}, the JSON says {w}x{h}")
            anns = sorted(self._annotations.get(video["id"], []), key=lambda a: a.get("id", 0))
            masks = np.zeros((len(anns), len(indices), h, w), dtype=bool)
            ids, classes = [], []
            for n, ann in enumerate(anns):
                segs = ann.get("segmentations")
                if not isinstance(segs, list) or len(segs) != length:
                    raise CorruptSampleError(
                        f"annotation {ann.get('id')} has "
                        f"{len(segs) if isinstance(segs, list) else 'no'} "
                        f"segmentations for {length} frames"
                    )
                if ann.get("category_id") not in self._class_index:
                    raise CorruptSampleError(f"annotation {ann.get('id')}: unknown category {ann.get('category_id')}")
                for t, i in enumerate(indices):
                    try:
                        masks[n, t] = decode_segmentation(segs[i], h, w)
                    except (ValueError, TypeError) as error:
                        raise CorruptSampleError(f"annotation {ann.get('id')} frame {i}: {error}") from error
                ids.append(int(ann.get("id", n + 1)))
                classes.append(self._class_index[ann["category_id"]])
            return VideoClip(
                frames=np.stack(images),
                masks=masks,
                instance_ids=np.array(ids, dtype=np.int64),
                category_ids=np.array(classes, dtype=np.int64),
                dataset=self.name,
                video=name,
                frame_names=[Path(f).stem for f in files],
                annotated=np.full(len(indices), self.has_annotations, dtype=bool),
            )
        except CorruptSampleError as error:
            error.dataset, error.video = self.name, name
            raise


def OVISSource(
    annotation_file: str | os.PathLike, image_root: str | os.PathLike, name: str = "ovis", **kwargs
) -> YouTubeVISSource:
    """OVIS uses the YouTube-VIS format; this only changes the default name."""
    return YouTubeVISSource(annotation_file, image_root, name=name, **kwargs)
