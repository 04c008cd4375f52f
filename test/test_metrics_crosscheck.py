"""Our metrics against independent implementations on random cases:
pycocotools' COCOeval for video AP (always installed), vos-benchmark for
per-frame J and F, and TrackEval for the DAVIS mean/recall/decay statistics
(the last two are skipped when not installed)."""

import contextlib
import io

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ausm_eval.metrics import (
    GtTrack,
    PredTrack,
    VideoAPEvaluator,
    boundary_f,
    evaluate_video,
    jaccard,
    mean_recall_decay,
)


def blobs(rng, h, w, density=0.5, sigma=2.0):
    return cv2.GaussianBlur(rng.random((h, w)), (0, 0), sigma) > density


def random_track(rng, t, h, w):
    """A rectangle drifting over t frames, absent in a random frame or two."""
    m = np.zeros((t, h, w), bool)
    y, x = rng.integers(0, h - 6), rng.integers(0, w - 6)
    sh, sw = rng.integers(4, h // 2), rng.integers(4, w // 2)
    for f in range(t):
        if rng.random() < 0.15:
            continue
        yy, xx = min(h - 1, y + f * rng.integers(-1, 2)), min(w - 1, x + f * rng.integers(-1, 2))
        m[f, max(yy, 0) : yy + sh, max(xx, 0) : xx + sw] = True
    return m


def perturb(rng, m):
    out = m.copy()
    kind = rng.integers(4)
    if kind == 0:
        out = np.roll(out, int(rng.integers(-3, 4)), axis=2)
    elif kind == 1:
        out[int(rng.integers(len(out)))] = False
    elif kind == 2:
        out = np.stack([cv2.dilate(f.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0 for f in out])
    return out


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("seed", range(4))
def test_video_ap_matches_cocoeval_on_stacked_frames(seed):
    # COCOeval scores images; a video whose frames are stacked into one tall
    # image has exactly the spatio-temporal IoU as its mask IoU, so COCOeval on
    # tall images is an independent implementation of video AP.
    rng = np.random.default_rng(seed)
    t, h, w = 3, 24, 28
    ours = VideoAPEvaluator()
    images, gt_anns, results = [], [], []
    for video in range(1, 9):
        gts, preds = {}, {}
        for g in range(int(rng.integers(0, 5))):
            masks = random_track(rng, t, h, w)
            if not masks.any():
                continue
            cat = int(rng.integers(1, 4))
            crowd = bool(rng.random() < 0.1)
            gts[g] = GtTrack(cat, masks, crowd)
            for _ in range(int(rng.integers(0, 3))):
                wrong_cat = rng.random() < 0.15
                preds[len(preds)] = PredTrack(
                    int(rng.integers(1, 4)) if wrong_cat else cat, float(rng.random()), perturb(rng, masks)
                )
        for _ in range(int(rng.integers(0, 3))):  # pure false positives
            preds[len(preds)] = PredTrack(int(rng.integers(1, 4)), float(rng.random()), random_track(rng, t, h, w))
        ours.add_video(gts, preds, (t, h, w))
        images.append({"id": video, "height": t * h, "width": w})
        for g in gts.values():
            rle = mask_utils.encode(np.asfortranarray(g.masks.reshape(t * h, w).astype(np.uint8)))
            gt_anns.append(
                {
                    "id": len(gt_anns) + 1,
                    "image_id": video,
                    "category_id": g.category,
                    "segmentation": rle,
                    "area": float(g.masks.sum()),
                    "iscrowd": int(g.iscrowd),
                    "bbox": list(mask_utils.toBbox(rle)),
                }
            )
        for p in preds.values():
            rle = mask_utils.encode(np.asfortranarray(p.masks.reshape(t * h, w).astype(np.uint8)))
            results.append({"image_id": video, "category_id": p.category, "segmentation": rle, "score": p.score})
    coco_gt = COCO()
    coco_gt.dataset = {
        "images": images,
        "annotations": gt_anns,
        "categories": [{"id": c, "name": str(c)} for c in (1, 2, 3)],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results) if results else COCO()
        evaluator = COCOeval(coco_gt, coco_dt, "segm")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = evaluator.stats
    s = ours.summary()
    assert [s["AP"], s["AP50"], s["AP75"], s["AR1"], s["AR10"], s["AR100"]] == pytest.approx(
        [stats[0], stats[1], stats[2], stats[6], stats[7], stats[8]], abs=1e-12
    )
    assert 0.05 < s["AP"] < 0.95  # a case with both hits and misses


def test_spatio_temporal_iou_is_summed_over_frames():
    rng = np.random.default_rng(7)
    a, b = random_track(rng, 4, 20, 20), random_track(rng, 4, 20, 20)
    expected = (a & b).sum() / (a | b).sum()
    ev = VideoAPEvaluator(iou_thresholds=[expected - 1e-9, expected + 1e-9])
    ev.add_video({1: GtTrack(1, a)}, {1: PredTrack(1, 1.0, b)}, (4, 20, 20))
    precision, recall, _ = ev._accumulate()
    assert recall[:, 0, -1].tolist() == [1.0, 0.0]  # matched just below its IoU, not just above


@pytest.mark.parametrize("seed", range(3))
def test_j_and_f_match_vos_benchmark(seed):
    evaluator_module = pytest.importorskip(
        "vos_benchmark.evaluator",
        reason="vos-benchmark not installed (pip install --no-deps vos-benchmark scikit-image)",
    )
    rng = np.random.default_rng(seed)
    for h, w in [(20, 30), (60, 90), (121, 160), (240, 427)]:
        for _ in range(6):
            gt = blobs(rng, h, w, sigma=rng.uniform(1, 4))
            pred = gt if rng.random() < 0.1 else blobs(rng, h, w, sigma=rng.uniform(1, 4))
            if rng.random() < 0.1:
                pred = np.zeros_like(gt)
            reference = evaluator_module.Evaluator(boundary=0.008)
            reference.feed_frame(pred.astype(np.uint8), gt.astype(np.uint8))
            iou, bf = reference.conclude()
            if 1 not in iou:  # empty ground truth: vos-benchmark lists no object
                continue
            assert jaccard(gt, pred) == pytest.approx(iou[1] / 100, abs=1e-12)
            assert boundary_f(gt, pred) == pytest.approx(bf[1] / 100, abs=1e-12)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools under numpy 2
def test_statistics_match_trackeval():
    pytest.importorskip("trackeval", reason="trackeval not installed (pip install --no-deps trackeval)")
    from trackeval.metrics.j_and_f import JAndF

    rng = np.random.default_rng(11)
    for t in (5, 9, 16):
        gt = np.stack([blobs(rng, 30, 40, 0.55) for _ in range(t)])
        pred = np.stack([g if rng.random() < 0.4 else blobs(rng, 30, 40, 0.55) for g in gt])

        def rles(masks):
            return [[mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))] for m in masks]

        data = {
            "num_timesteps": t,
            "num_tracker_ids": 1,
            "num_gt_ids": 1,
            "gt_dets": rles(gt),
            "tracker_dets": rles(pred),
            "gt_ids": [np.array([0])] * t,
            "tracker_ids": [np.array([0])] * t,
        }
        reference = JAndF().eval_sequence(data)
        scores = evaluate_video({1: gt}, {1: pred}, skip_first_last=False)[1]
        jm, jr, jd = mean_recall_decay(scores.j)
        fm, fr, fd = mean_recall_decay(scores.f)
        assert [jm, jr, jd, fm, fr, fd] == pytest.approx(
            [reference[k] for k in ("J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")], abs=1e-12
        )
