"""Data for AUSM training: the clip type, loaders for the official dataset
formats, clip sampling, clip-shared augmentation and multi-dataset mixing.
The files of those formats are read and written by ``ausm_eval.io`` and
``ausm_eval.segmentation``; loaders raise ``ausm_eval.errors.CorruptSampleError``.

Typical use::

    from ausm_train.data import (DavisSource, YouTubeVISSource, ClipDataset, ClipAugment,
                                 MixedClipDataset, SkipCorrupt, collate_clips)
    davis = ClipDataset(DavisSource("DAVIS", "train"), clip_len=8, stride=(1, 3),
                        augment=ClipAugment(output_size=(384, 384)))
    ytvis = ClipDataset(YouTubeVISSource("ytvis/train.json", "ytvis/train/JPEGImages"), clip_len=8,
                        augment=ClipAugment(output_size=(384, 384)))
    mix = SkipCorrupt(MixedClipDataset([davis, ytvis], weights=[1, 3], length=10000))
"""

from .augment import (
    ClipAugment,
    ColorJitter,
    JpegArtifacts,
    RandomAffine,
    apply_color,
    crop_or_pad_clip,
    hflip_clip,
    resize_clip,
)
from .coco import CocoPseudoVideoSource
from .davis import DavisSource
from .mixing import ClipBatch, MixedClipDataset, collate_clips
from .sampling import ClipDataset, CorruptSample, SkipCorrupt, sample_clip_indices
from .sav import SAVPngSource, SAVSource
from .source import VideoSource
from .types import NO_CATEGORY, VideoClip
from .ytvis import OVISSource, YouTubeVISSource
from .ytvos import MOSESource, YouTubeVOSSource

__all__ = [
    "VideoClip",
    "NO_CATEGORY",
    "VideoSource",
    "DavisSource",
    "YouTubeVOSSource",
    "MOSESource",
    "YouTubeVISSource",
    "OVISSource",
    "CocoPseudoVideoSource",
    "SAVSource",
    "SAVPngSource",
    "ClipDataset",
    "sample_clip_indices",
    "SkipCorrupt",
    "CorruptSample",
    "MixedClipDataset",
    "ClipBatch",
    "collate_clips",
    "ClipAugment",
    "ColorJitter",
    "JpegArtifacts",
    "RandomAffine",
    "apply_color",
    "crop_or_pad_clip",
    "hflip_clip",
    "resize_clip",
]
