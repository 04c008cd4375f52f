"""Seeded synthetic video segmentation data (shapes of several classes moving,
occluding, entering and leaving, under camera motion and noise), generated in
memory (``SyntheticVideoSource``) or written in the DAVIS / YouTube-VIS
layouts (``write_clips``; CLI: ``python -m ausm_train.synthetic --help``)."""

from .scene import SyntheticConfig, SyntheticVideoSource, generate_video, render_scene
from .shapes import SHAPE_CLASSES, shape_mask
from .writers import DavisWriter, YouTubeVISWriter, write_clips

__all__ = [
    "SyntheticConfig",
    "SyntheticVideoSource",
    "generate_video",
    "render_scene",
    "SHAPE_CLASSES",
    "shape_mask",
    "DavisWriter",
    "YouTubeVISWriter",
    "write_clips",
]
