"""COCO instances as pseudo-videos (the paper's stage-1 data): each image becomes
a clip whose every frame is the image under its own random affine, with the
instance masks warped alike.

    {"images":      [{"id", "file_name", "height", "width"}],
     "annotations": [{"id", "image_id", "category_id", "iscrowd",
                      "segmentation": <polygons | RLE>, "area", "bbox"}],
     "categories":  [{"id", "name", "supercategory"}]}

Images are at IMAGE_DIR/<file_name>. Crowd regions are dropped by default (they
are not instances), and so are images left without any instance.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from ausm_eval.errors import CorruptSampleError, DatasetFormatError
from ausm_eval.io import read_rgb
from ausm_eval.segmentation import decode_segmentation

from .augment import RandomAffine
from .source import VideoSource
from .types import VideoClip


class CocoPseudoVideoSource(VideoSource):
    def __init__(
        self,
        annotation_file: str | os.PathLike,
        image_dir: str | os.PathLike,
        name: str = "coco",
        num_frames: int = 3,
        affine: RandomAffine | None = None,
        skip_crowd: bool = True,
        keep_empty_images: bool = False,
        seed: int = 0,
    ):
        self.image_dir = Path(image_dir)
        self.name = name
        self.pseudo_length = int(num_frames)
        self.affine = affine or RandomAffine()
        self.seed = seed
        try:
            data = json.loads(Path(annotation_file).read_text(encoding="utf-8"))
            images = sorted(data["images"], key=lambda i: i["id"])
            categories = sorted(data["categories"], key=lambda c: c["id"])
            annotations = data.get("annotations") or []
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise DatasetFormatError(f"bad COCO file {annotation_file}: {error}") from error
        self.category_ids = [int(c["id"]) for c in categories]
        self.class_names = [str(c.get("name", c["id"])) for c in categories]
        self._class_index = {cid: i for i, cid in enumerate(self.category_ids)}
        self._annotations: dict[int, list[dict]] = defaultdict(list)
        for ann in annotations:
            if isinstance(ann, dict) and not (skip_crowd and ann.get("iscrowd", 0)):
                self._annotations[ann.get("image_id")].append(ann)
        self.images = [im for im in images if keep_empty_images or self._annotations.get(im["id"])]

    def __len__(self) -> int:
        return len(self.images)

    def video_name(self, index: int) -> str:
        return Path(self.images[index]["file_name"]).stem

    def num_frames(self, index: int) -> int:
        return self.pseudo_length

    def load_image(self, index: int) -> VideoClip:
        """The still image as a one-frame clip, without any warp."""
        image = self.images[index]
        name = self.video_name(index)
        try:
            rgb = read_rgb(self.image_dir / image["file_name"])
            h, w = rgb.shape[:2]
            if (int(image.get("height", h)), int(image.get("width", w))) != (h, w):
                raise CorruptSampleError(
                    f"image {image['file_name']} is {w}x{h}, the JSON says {image.get('width')}x{image.get('height')}"
                )
            anns = sorted(self._annotations.get(image["id"], []), key=lambda a: a.get("id", 0))
            masks = np.zeros((len(anns), 1, h, w), dtype=bool)
            for n, ann in enumerate(anns):
                if ann.get("category_id") not in self._class_index:
                    raise CorruptSampleError(f"annotation {ann.get('id')}: unknown category {ann.get('category_id')}")
                try:
                    masks[n, 0] = decode_segmentation(ann.get("segmentation"), h, w)
                except (ValueError, TypeError) as error:
                    raise CorruptSampleError(f"annotation {ann.get('id')}: {error}") from error
            return VideoClip(
                frames=rgb[None],
                masks=masks,
                instance_ids=np.array([int(a.get("id", i + 1)) for i, a in enumerate(anns)], dtype=np.int64),
                category_ids=np.array([self._class_index[a["category_id"]] for a in anns], dtype=np.int64),
                dataset=self.name,
                video=name,
                frame_names=[name],
            )
        except CorruptSampleError as error:
            error.dataset, error.video = self.name, name
            raise

    def load(
        self, index: int, frames: Sequence[int] | None = None, rng: np.random.Generator | None = None
    ) -> VideoClip:
        """One independently warped copy of the image per requested frame.

        Without ``rng`` the warps are a fixed function of (seed, index), so an
        evaluation pass sees the same pseudo-video every time.
        """
        indices = self._frame_indices(index, frames)
        if rng is None:
            rng = np.random.default_rng([self.seed, index])
        still = self.load_image(index)
        h, w = still.height, still.width
        frames_out = np.zeros((len(indices), h, w, 3), dtype=np.uint8)
        masks_out = np.zeros((still.num_instances, len(indices), h, w), dtype=bool)
        for t in range(len(indices)):
            matrix = self.affine.matrix(h, w, rng)
            frames_out[t], masks_out[:, t] = self.affine.warp(still.frames[0], still.masks[:, 0], matrix)
        return VideoClip(
            frames=frames_out,
            masks=masks_out,
            instance_ids=still.instance_ids,
            category_ids=still.category_ids,
            dataset=self.name,
            video=still.video,
            frame_names=[f"{still.video}_{i:05d}" for i in indices],
        )
