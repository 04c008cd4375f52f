"""Evaluation metrics: DAVIS J&F, YouTube-VOS overall score, YouTube-VIS video AP.

All take ground truth and predictions as dicts id -> per-frame masks
(array [T, H, W], list of per-frame array / COCO RLE / None, or dict frame ->
mask), so the trainer's validation and the ROS replay tools call them directly
(``ausm_train.evaluation.from_clip`` builds them from a training clip).
Semi-supervised J&F also takes label videos (one label per pixel, as the
benchmark's PNGs hold them) and is always reported beside the static and empty
baselines (``JFWithBaselines``).
"""

from .baselines import JFWithBaselines, format_jf_table
from .davis import (
    SEMI_SUPERVISED,
    UNSUPERVISED,
    VOID_LABEL,
    DavisEvaluator,
    ObjectScores,
    evaluate_video,
    masks_to_labels,
    mean_recall_decay,
    score_label_video,
    scored_frames,
    static_baseline,
)
from .davis_folder import score_davis_folder
from .masks import as_mask_sequence, labels_to_masks
from .region_boundary import DAVIS_BOUND_TH, boundary_f, boundary_tolerance, disk, jaccard, seg2bmap
from .video_ap import (
    ClassMatch,
    GtTrack,
    ObservedTrack,
    PredTrack,
    VideoAPEvaluator,
    class_agnostic_tracks,
    class_scored_tracks,
    encode_track,
    evaluate_ytvis_json,
    match_classes,
    normalise_class_name,
    ytvis_result_entry,
)
from .ytvos import YouTubeVOSEvaluator

__all__ = [
    "jaccard",
    "boundary_f",
    "seg2bmap",
    "disk",
    "boundary_tolerance",
    "DAVIS_BOUND_TH",
    "mean_recall_decay",
    "evaluate_video",
    "DavisEvaluator",
    "ObjectScores",
    "SEMI_SUPERVISED",
    "UNSUPERVISED",
    "VOID_LABEL",
    "masks_to_labels",
    "score_label_video",
    "scored_frames",
    "static_baseline",
    "JFWithBaselines",
    "format_jf_table",
    "score_davis_folder",
    "YouTubeVOSEvaluator",
    "VideoAPEvaluator",
    "GtTrack",
    "PredTrack",
    "evaluate_ytvis_json",
    "encode_track",
    "ClassMatch",
    "match_classes",
    "normalise_class_name",
    "ObservedTrack",
    "class_scored_tracks",
    "class_agnostic_tracks",
    "ytvis_result_entry",
    "as_mask_sequence",
    "labels_to_masks",
]
