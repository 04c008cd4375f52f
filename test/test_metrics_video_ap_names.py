"""Video AP as YouTube-VIS scores it, with the model's classes matched to the dataset's by
name (the two label sets list them in different orders) and every track entered once per
class: our results file and score against pycocotools' COCOeval on frames stacked into
tall images (whose mask IoU is exactly the spatio-temporal IoU)."""

import contextlib
import io

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ausm_eval.metrics import (
    ObservedTrack,
    class_scored_tracks,
    evaluate_ytvis_json,
    match_classes,
    normalise_class_name,
    ytvis_result_entry,
)
from ausm_eval.segmentation import decode_segmentation

DATASET = {10: "cat", 20: "dog", 30: "sea_lion"}
MODEL = ["Sea Lion", "dog", "bird", "cat"]  # another order, an extra class, another spelling


def _track(rng, t, h, w):
    m = np.zeros((t, h, w), bool)
    y, x = int(rng.integers(0, h - 8)), int(rng.integers(0, w - 8))
    sh, sw = int(rng.integers(4, h // 2)), int(rng.integers(4, w // 2))
    first = int(rng.integers(0, t - 1))
    for f in range(first, t):
        yy, xx = min(h - 2, y + f), min(w - 2, x + int(rng.integers(-1, 2)))
        m[f, yy : yy + sh, xx : xx + sw] = True
    return m


def _dataset_and_tracks(seed):
    rng = np.random.default_rng(seed)
    t, h, w = 5, 24, 32
    videos, annotations, observed = [], [], {}
    for v in range(1, 7):
        videos.append(
            {"id": v, "width": w, "height": h, "length": t, "file_names": [f"v{v}/{f:05d}.jpg" for f in range(t)]}
        )
        tracks = {}
        for _g in range(int(rng.integers(1, 4))):
            masks = _track(rng, t, h, w)
            cat = int(rng.choice(list(DATASET)))
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "video_id": v,
                    "category_id": cat,
                    "iscrowd": 0,
                    "segmentations": [
                        mask_utils.encode(np.asfortranarray(m.astype(np.uint8))) if m.any() else None for m in masks
                    ],
                }
            )
            for a in annotations[-1]["segmentations"]:
                if a is not None:
                    a["counts"] = a["counts"].decode("ascii")
            for _ in range(int(rng.integers(0, 3))):  # a tracker's view of it: shifted, sometimes confused
                track = ObservedTrack()
                true_index = MODEL.index({"cat": "cat", "dog": "dog", "sea_lion": "Sea Lion"}[DATASET[cat]])
                shift = int(rng.integers(-2, 3))
                for f in range(t):
                    if masks[f].any() and rng.random() > 0.1:
                        probs = rng.dirichlet(np.ones(len(MODEL)))
                        if rng.random() < 0.8:
                            probs = 0.3 * probs + 0.7 * np.eye(len(MODEL))[true_index]
                        track.add(f, np.roll(masks[f], shift, axis=1), rng.uniform(0.3, 1.0), probs)
                tracks[len(tracks) + 1] = track
        for _ in range(int(rng.integers(0, 2))):  # a false positive
            track = ObservedTrack()
            for f, m in enumerate(_track(rng, t, h, w)):
                if m.any():
                    track.add(f, m, rng.uniform(0, 0.8), rng.dirichlet(np.ones(len(MODEL))))
            tracks[len(tracks) + 1] = track
        observed[v] = tracks
    gt = {
        "videos": videos,
        "annotations": annotations,
        "categories": [{"id": c, "name": n} for c, n in DATASET.items()],
    }
    return gt, observed, (t, h, w)


def _results(observed, to_dataset, shape):
    t, h, w = shape
    return [
        ytvis_result_entry(v, track, t, h, w)
        for v, tracks in observed.items()
        for _, track in class_scored_tracks(tracks, to_dataset)
    ]


def _cocoeval_on_stacked_frames(gt, results):
    """Reference: each video one image of its frames stacked, COCOeval 'segm'."""
    images, anns, dets = [], [], []

    def stacked(segmentations, h, w):
        frames = [decode_segmentation(s, h, w) for s in segmentations]
        return mask_utils.encode(np.asfortranarray(np.concatenate(frames).astype(np.uint8)))

    size = {v["id"]: (v["height"], v["width"], v["length"]) for v in gt["videos"]}
    for v in gt["videos"]:
        images.append({"id": v["id"], "height": v["height"] * v["length"], "width": v["width"]})
    for a in gt["annotations"]:
        h, w, _ = size[a["video_id"]]
        rle = stacked(a["segmentations"], h, w)
        anns.append(
            {
                "id": a["id"],
                "image_id": a["video_id"],
                "category_id": a["category_id"],
                "iscrowd": 0,
                "segmentation": rle,
                "area": float(mask_utils.area(rle)),
                "bbox": list(mask_utils.toBbox(rle)),
            }
        )
    for r in results:
        h, w, _ = size[r["video_id"]]
        dets.append(
            {
                "image_id": r["video_id"],
                "category_id": r["category_id"],
                "score": r["score"],
                "segmentation": stacked(r["segmentations"], h, w),
            }
        )
    coco_gt = COCO()
    coco_gt.dataset = {"images": images, "annotations": anns, "categories": gt["categories"]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt.createIndex()
        evaluator = COCOeval(coco_gt, coco_gt.loadRes(dets), "segm")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats


def test_names_are_matched_not_indices():
    match = match_classes(MODEL, DATASET)
    assert match.to_dataset == {0: 30, 1: 20, 3: 10}
    assert match.model_only == ["bird"] and match.dataset_only == []
    assert normalise_class_name(" Sea-Lion ") == normalise_class_name("sea_lion") == "sea lion"
    assert "AP 0" in match_classes(["cat"], DATASET).describe()
    with pytest.raises(ValueError, match="both named"):
        match_classes(MODEL, {1: "cat", 2: "Cat"})


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools under numpy 2
@pytest.mark.parametrize("seed", range(3))
def test_video_ap_of_a_results_file_matches_cocoeval(seed):
    gt, observed, shape = _dataset_and_tracks(seed)
    results = _results(observed, match_classes(MODEL, DATASET).to_dataset, shape)
    ours = evaluate_ytvis_json(gt, results)
    stats = _cocoeval_on_stacked_frames(gt, results)
    assert [ours["AP"], ours["AP50"], ours["AP75"], ours["AR1"], ours["AR10"], ours["AR100"]] == pytest.approx(
        [stats[0], stats[1], stats[2], stats[6], stats[7], stats[8]], abs=1e-12
    )
    assert 0.05 < ours["AP"] < 0.95
    # every track is entered once per shared class, never for the model-only class
    assert {r["category_id"] for r in results} <= set(DATASET)
    # matching by index (model class k = the dataset's k-th category) scores the same
    # predictions lower: that is the bug name matching removes
    by_index = evaluate_ytvis_json(gt, _results(observed, {k: c for k, c in enumerate(sorted(DATASET))}, shape))
    assert by_index["AP"] < ours["AP"] and by_index["AP50"] < ours["AP50"] - 0.03


def test_track_scores_cover_every_class():
    track = ObservedTrack()
    mask = np.ones((4, 4), bool)
    track.add(0, mask, 0.5, [0.6, 0.4])
    track.add(1, mask, 1.0, [0.2, 0.8])
    assert track.class_scores().tolist() == pytest.approx([(0.3 + 0.2) / 2, (0.2 + 0.8) / 2])
    pairs = class_scored_tracks({7: track}, {0: 11, 1: 12})
    assert [(tid, p.category) for tid, p in pairs] == [(7, 12), (7, 11)]  # best first, both classes
    assert len(class_scored_tracks({7: track}, {0: 11, 1: 12}, max_per_video=1)) == 1
