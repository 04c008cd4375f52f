"""Evaluation metrics: DAVIS J&F, YouTube-VOS overall score, YouTube-VIS video AP.

All take ground truth and predictions as dicts id -> per-frame masks
(array [T, H, W], list of per-frame array / COCO RLE / None, or dict frame ->
mask), so the trainer's validation and the ROS replay tools call them directly.
"""

from .davis import SEMI_SUPERVISED, UNSUPERVISED, DavisEvaluator, ObjectScores, evaluate_video, mean_recall_decay
from .from_clip import clip_shape, gt_masks_from_clip, gt_tracks_from_clip
from .masks import as_mask_sequence, labels_to_masks
from .region_boundary import DAVIS_BOUND_TH, boundary_f, boundary_tolerance, disk, jaccard, seg2bmap
from .video_ap import GtTrack, PredTrack, VideoAPEvaluator, encode_track, evaluate_ytvis_json
from .ytvos import YouTubeVOSEvaluator

__all__ = [
    "jaccard", "boundary_f", "seg2bmap", "disk", "boundary_tolerance", "DAVIS_BOUND_TH",
    "mean_recall_decay", "evaluate_video", "DavisEvaluator", "ObjectScores", "SEMI_SUPERVISED", "UNSUPERVISED",
    "YouTubeVOSEvaluator",
    "VideoAPEvaluator", "GtTrack", "PredTrack", "evaluate_ytvis_json", "encode_track",
    "as_mask_sequence", "labels_to_masks", "gt_masks_from_clip", "gt_tracks_from_clip", "clip_shape",
]
