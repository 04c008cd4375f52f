"""YouTube-VIS video AP and the YouTube-VOS overall score on hand-computed cases."""

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from ausm_eval.metrics import GtTrack, PredTrack, VideoAPEvaluator, YouTubeVOSEvaluator, evaluate_ytvis_json

T, H, W = 2, 10, 10


def block(frames, y0, y1, x0, x1, t=T):
    m = np.zeros((t, H, W), bool)
    for f in frames:
        m[f, y0:y1, x0:x1] = True
    return m


def test_perfect_track():
    ev = VideoAPEvaluator()
    ev.add_video(
        {1: GtTrack(3, block([0, 1], 0, 4, 0, 4))}, {9: PredTrack(3, 0.9, block([0, 1], 0, 4, 0, 4))}, (T, H, W)
    )
    s = ev.summary()
    # COCO divides by tp + fp + machine epsilon, hence approx.
    assert [s["AP"], s["AP50"], s["AP75"], s["AR1"], s["AR10"]] == pytest.approx([1.0] * 5)


def test_spatio_temporal_iou_sums_over_frames():
    # Ground truth in both frames (16 px each); prediction right in frame 0 only:
    # IoU = 16 / 32 = 0.5, a match at threshold 0.50 and at no other.
    ev = VideoAPEvaluator()
    ev.add_video({1: GtTrack(1, block([0, 1], 0, 4, 0, 4))}, {1: PredTrack(1, 0.8, block([0], 0, 4, 0, 4))}, (T, H, W))
    s = ev.summary()
    assert s["AP50"] == pytest.approx(1.0) and s["AP75"] == 0.0
    assert s["AP"] == pytest.approx(0.1)  # 1 of 10 thresholds
    assert s["AR1"] == pytest.approx(0.1)


def test_false_positive_ranked_first():
    # Two objects; the top-scored prediction hits nothing, the second is exact on
    # object A, object B is missed. Ranked: FP, TP -> recall [0, .5], precision
    # [0, .5], interpolated [.5, .5]: precision .5 at the 51 recall points
    # 0.00..0.50 and 0 at the other 50.
    gt = {1: GtTrack(1, block([0, 1], 0, 4, 0, 4)), 2: GtTrack(1, block([0, 1], 6, 10, 6, 10))}
    pred = {1: PredTrack(1, 0.9, block([0, 1], 0, 3, 6, 9)), 2: PredTrack(1, 0.6, block([0, 1], 0, 4, 0, 4))}
    ev = VideoAPEvaluator()
    ev.add_video(gt, pred, (T, H, W))
    s = ev.summary()
    assert s["AP"] == pytest.approx(51 * 0.5 / 101)
    assert s["AR1"] == 0.0  # the single allowed detection is the false positive
    assert s["AR10"] == pytest.approx(0.5)


def test_categories_must_agree_and_are_averaged():
    gt = {1: GtTrack(1, block([0, 1], 0, 4, 0, 4)), 2: GtTrack(2, block([0, 1], 6, 10, 6, 10))}
    pred = {1: PredTrack(2, 0.9, block([0, 1], 0, 4, 0, 4)), 2: PredTrack(2, 0.8, block([0, 1], 6, 10, 6, 10))}
    ev = VideoAPEvaluator()
    ev.add_video(gt, pred, (T, H, W))
    s = ev.summary()
    # Category 1: no correct-class prediction -> AP 0. Category 2 has one object:
    # FP then TP -> recall [0, 1], precision interpolated to .5 at every recall point.
    assert s["per_category_AP"] == pytest.approx({1: 0.0, 2: 0.5})
    assert s["AP"] == pytest.approx(0.25)
    agnostic = VideoAPEvaluator(class_agnostic=True)
    agnostic.add_video(gt, pred, (T, H, W))
    assert agnostic.summary()["AP"] == pytest.approx(1.0)


def test_several_videos_pool_detections_by_score():
    # Video 1: TP (0.9). Video 2: FP (0.95) and its object missed. Pooled ranking:
    # FP, TP -> precision [0, .5] interpolated to .5 up to recall .5.
    ev = VideoAPEvaluator()
    ev.add_video(
        {1: GtTrack(1, block([0, 1], 0, 4, 0, 4))}, {1: PredTrack(1, 0.9, block([0, 1], 0, 4, 0, 4))}, (T, H, W)
    )
    ev.add_video(
        {1: GtTrack(1, block([0, 1], 0, 4, 0, 4))}, {1: PredTrack(1, 0.95, block([0, 1], 5, 9, 5, 9))}, (T, H, W)
    )
    s = ev.summary()
    assert s["AP"] == pytest.approx(51 * 0.5 / 101)
    assert s["AR1"] == pytest.approx(0.5) and s["num_videos"] == 2


def test_no_ground_truth_reports_minus_one():
    ev = VideoAPEvaluator()
    ev.add_video({}, {1: PredTrack(1, 0.5, block([0], 0, 2, 0, 2))}, (T, H, W))
    assert ev.summary()["AP"] == -1.0


def test_results_json_route_and_mask_forms(tmp_path):
    gt_mask = block([0, 1], 2, 6, 2, 7)

    def rle(m):
        r = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        return {"size": [H, W], "counts": r["counts"].decode("ascii")}

    gt_json = {
        "videos": [{"id": 1, "height": H, "width": W, "length": 3, "file_names": ["v/0.jpg", "v/1.jpg", "v/2.jpg"]}],
        "categories": [{"id": 4, "name": "x"}],
        "annotations": [
            {
                "id": 1,
                "video_id": 1,
                "category_id": 4,
                "iscrowd": 0,
                "segmentations": [rle(gt_mask[0]), rle(gt_mask[1]), None],
            }
        ],
    }
    results = [{"video_id": 1, "category_id": 4, "score": 0.7, "segmentations": [rle(gt_mask[0]), None, None]}]
    (tmp_path / "gt.json").write_text(json.dumps(gt_json))
    (tmp_path / "res.json").write_text(json.dumps(results))
    s = evaluate_ytvis_json(tmp_path / "gt.json", tmp_path / "res.json")
    assert s["AP50"] == pytest.approx(1.0) and s["AP75"] == 0.0  # IoU exactly 0.5


def test_youtube_vos_score_by_hand():
    t = 4
    ev = YouTubeVOSEvaluator()
    seen_gt = block([0, 1, 2, 3], 0, 4, 0, 4, t=t)
    # Seen object scored on frames 1..3 (frame 0 is its prompt): right in 1 and 3, lost in 2.
    seen_pred = seen_gt.copy()
    seen_pred[2] = False
    # Unseen object appears at frame 2: scored on frame 3 only, where it is exact.
    unseen_gt = block([2, 3], 6, 10, 6, 10, t=t)
    out = ev.add_video({1: seen_gt, 2: unseen_gt}, {1: seen_pred, 2: unseen_gt}, seen={1: True, 2: False})
    assert out[1] == pytest.approx((2 / 3, 2 / 3)) and out[2] == (1.0, 1.0)
    s = ev.summary()
    assert s["J_seen"] == pytest.approx(2 / 3) and s["J_unseen"] == 1.0
    assert s["overall"] == pytest.approx((2 / 3 + 2 / 3 + 1 + 1) / 4)
    # Frames without ground truth (annotated False) are not scored.
    ev2 = YouTubeVOSEvaluator()
    ev2.add_video({1: seen_gt}, {1: seen_pred}, annotated=[True, True, False, True])
    assert ev2.summary()["J_seen"] == 1.0 and np.isnan(ev2.summary()["J_unseen"])


def test_ground_truth_from_a_synthetic_clip_scores_perfectly():
    from ausm_eval.metrics import DavisEvaluator
    from ausm_train.evaluation.from_clip import clip_shape, gt_masks_from_clip, gt_tracks_from_clip
    from ausm_train.synthetic import SyntheticConfig, generate_video

    clip = generate_video(SyntheticConfig(height=40, width=48, num_frames=6), 0, 1)
    davis = DavisEvaluator()
    davis.add_video(clip.video, gt_masks_from_clip(clip), gt_masks_from_clip(clip))
    assert davis.summary()["J&F-Mean"] == 1.0
    vis = VideoAPEvaluator()
    preds = {k: PredTrack(g.category, 1.0, g.masks) for k, g in gt_tracks_from_clip(clip).items()}
    vis.add_video(gt_tracks_from_clip(clip), preds, clip_shape(clip))
    assert vis.summary()["AP"] == pytest.approx(1.0)
