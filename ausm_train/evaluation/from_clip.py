"""Ground truth for the evaluators straight from a VideoClip, so validation on
any loader's data (synthetic included) needs no format round trip."""

from __future__ import annotations

import numpy as np

from ausm_eval.metrics import GtTrack

from ..data.types import VideoClip


def gt_masks_from_clip(clip: VideoClip) -> dict[int, np.ndarray]:
    """instance id -> bool [T, H, W], the input of DavisEvaluator / YouTubeVOSEvaluator."""
    return {int(i): clip.masks[n] for n, i in enumerate(clip.instance_ids)}


def gt_tracks_from_clip(clip: VideoClip) -> dict[int, GtTrack]:
    """instance id -> GtTrack, the input of VideoAPEvaluator (category -1 for
    class-agnostic clips; evaluate those with class_agnostic=True)."""
    return {int(i): GtTrack(int(clip.category_ids[n]), clip.masks[n]) for n, i in enumerate(clip.instance_ids)}


def clip_shape(clip: VideoClip) -> tuple[int, int, int]:
    return clip.num_frames, clip.height, clip.width
