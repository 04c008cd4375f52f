"""J&F as DAVIS 2017 semi-supervised: predictions written as palette PNGs and scored by
our folder scorer and by PyPI vos-benchmark, on videos where objects enter mid-video,
leave, and predicted masks overlap."""

import numpy as np
import pytest

from ausm_eval.io import write_label_png
from ausm_eval.metrics import (
    DavisEvaluator,
    JFWithBaselines,
    evaluate_video,
    format_jf_table,
    masks_to_labels,
    score_davis_folder,
    score_label_video,
    static_baseline,
)


def _rect_track(rng, t, h, w, first, last):
    """A rectangle drifting from frame ``first`` to ``last`` (inclusive), absent elsewhere."""
    m = np.zeros((t, h, w), bool)
    y, x = int(rng.integers(0, h - 8)), int(rng.integers(0, w - 8))
    sh, sw = int(rng.integers(5, h // 2)), int(rng.integers(5, w // 2))
    dy, dx = int(rng.integers(-2, 3)), int(rng.integers(-2, 3))
    for f in range(first, last + 1):
        yy, xx = np.clip(y + dy * (f - first), 0, h - 3), np.clip(x + dx * (f - first), 0, w - 3)
        m[f, yy : yy + sh, xx : xx + sw] = True
    return m


def _video(rng, t=9, h=40, w=56):
    """Ground-truth label video and a tracker's overlapping per-object masks with scores."""
    gt_masks, pred_masks, pred_scores = {}, {}, {}
    n = int(rng.integers(2, 5))
    for i in range(1, n + 1):
        first = 0 if i == 1 else int(rng.integers(0, t - 3))  # later objects may enter mid-video
        last = t - 1 if rng.random() < 0.7 else int(rng.integers(first + 1, t))  # or leave
        gt_masks[i] = _rect_track(rng, t, h, w, first, last)
        pred = np.roll(gt_masks[i], (int(rng.integers(-3, 4)), int(rng.integers(-3, 4))), axis=(1, 2))
        if rng.random() < 0.5:  # switched on too early: penalised
            pred[max(0, first - 2) : first] = gt_masks[i][first]
        pred[rng.random(t) < 0.15] = False  # lost now and then
        if rng.random() < 0.3:  # swallows a neighbour's pixels
            pred |= np.roll(pred, 6, axis=2)
        pred_masks[i] = pred
        pred_scores[i] = rng.random(t)
    gt = masks_to_labels(gt_masks, (t, h, w))
    return gt, pred_masks, pred_scores


def _write(root, name, labels):
    for f, frame in enumerate(labels):
        write_label_png(root / name / f"{f:05d}.png", frame)


def _videos(seed, count=6):
    rng = np.random.default_rng(seed)
    return [(f"seq{k}", *_video(rng, t=int(rng.integers(5, 11)))) for k in range(count)]


@pytest.mark.parametrize("seed", range(3))
def test_folder_scorer_equals_vos_benchmark(tmp_path, seed):
    benchmark = pytest.importorskip("vos_benchmark.benchmark", reason="vos-benchmark not installed").benchmark
    videos = _videos(seed)
    gt_root, pred_root, static_root, empty_root = (tmp_path / d for d in ("gt", "pred", "static", "empty"))
    overlapping = entering = 0
    for name, gt, pred_masks, pred_scores in videos:
        pred = masks_to_labels(pred_masks, gt.shape, pred_scores)
        _write(gt_root, name, gt)
        _write(pred_root, name, pred)
        _write(static_root, name, static_baseline(gt))
        _write(empty_root, name, np.zeros_like(gt))
        overlapping += int((sum(m.astype(int) for m in pred_masks.values()) > 1).sum())
        entering += sum(1 for i in np.unique(gt) if i and not (gt[0] == i).any())
    assert overlapping > 0 and entering > 0  # the cases the lenient metric got wrong are here

    ours = score_davis_folder(gt_root, pred_root)
    summary = ours.summary()
    for row, root in (("model", pred_root), ("static", static_root), ("empty", empty_root)):
        ref_jf, ref_j, ref_f, per_object = benchmark([str(gt_root)], [str(root)], num_processes=1, verbose=False)
        assert summary[row]["J&F-Mean"] * 100 == pytest.approx(ref_jf[0], abs=0.1)
        assert summary[row]["J-Mean"] * 100 == pytest.approx(ref_j[0], abs=1e-9)
        assert summary[row]["F-Mean"] * 100 == pytest.approx(ref_f[0], abs=1e-9)
        ev = ours.evaluators[row]
        for name, (iou, bf) in per_object[0].items():
            for obj in iou:
                s = ev.per_object[f"{name}_{obj}"]
                assert (np.mean(s.j) * 100, np.mean(s.f) * 100) == pytest.approx((iou[obj], bf[obj]), abs=1e-9)
        assert sum(len(v[0]) for v in per_object[0].values()) == summary[row]["num_objects"]
    # the baselines are what they say: a tracker that beats neither shows nothing
    assert summary["empty"]["J&F-Mean"] < summary["static"]["J&F-Mean"]


def test_masks_with_scores_score_as_their_png(tmp_path):
    # The in-memory route (per-object masks + scores) equals the PNG route.
    for _name, gt, pred_masks, pred_scores in _videos(5, count=3):
        gt_masks = {int(i): gt == i for i in np.unique(gt) if i}
        from_masks = evaluate_video(gt_masks, pred_masks, shape=gt.shape, pred_scores=pred_scores)
        from_labels = score_label_video(gt, masks_to_labels(pred_masks, gt.shape, pred_scores))
        assert from_masks.keys() == from_labels.keys()
        for i in from_masks:
            assert from_masks[i].j.tolist() == from_labels[i].j.tolist()
            assert from_masks[i].f.tolist() == from_labels[i].f.tolist()


def test_overlap_goes_to_the_higher_score():
    a = np.zeros((1, 4, 4), bool)
    a[0, :, :3] = True
    b = np.zeros((1, 4, 4), bool)
    b[0, :, 1:] = True
    labels = masks_to_labels({1: a, 2: b}, (1, 4, 4), {1: 0.9, 2: 0.2})
    assert labels[0].tolist() == [[1, 1, 1, 2]] * 4
    assert masks_to_labels({1: a, 2: b}, (1, 4, 4), {1: [0.1], 2: [0.2]})[0].tolist() == [[1, 2, 2, 2]] * 4
    assert masks_to_labels({1: a, 2: b}, (1, 4, 4))[0].tolist() == [[1, 2, 2, 2]] * 4  # no scores: larger id


def test_frames_before_an_object_enters_are_not_free():
    # Object 2 enters at frame 4 of 8. Scored frames are 1..6; object 2 from frame 4 on.
    t, h, w = 8, 20, 20
    gt = np.zeros((t, h, w), np.int32)
    gt[:, 2:8, 2:8] = 1
    gt[4:, 12:18, 12:18] = 2
    perfect_1 = np.where(gt == 1, 1, 0)
    scores = score_label_video(gt, perfect_1)
    assert scores[1].j.tolist() == [1.0] * 6
    assert scores[2].j.tolist() == [0.0] * 3  # frames 4, 5, 6 only: no credit for frames 1..3
    early = perfect_1.copy()
    early[2:, 12:18, 12:18] = 2  # object 2 shown from frame 2 on, two frames early
    assert score_label_video(gt, early)[2].j.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]


def test_void_pixels_count_for_neither_side():
    gt = np.zeros((3, 10, 10), np.int32)
    gt[:, :5] = 1
    gt[:, 5:, :] = 255
    pred = np.ones_like(gt)  # also covers the void half
    s = score_label_video(gt, pred)
    assert s[1].j.tolist() == [1.0]
    assert 255 not in s


def test_static_baseline_copies_the_first_appearance():
    gt = np.zeros((4, 6, 6), np.int32)
    gt[0, 0:2, 0:2] = 1
    gt[1:, 0:2, 1:3] = 1  # object 1 moves
    gt[2:, 4:6, 4:6] = 2  # object 2 enters at frame 2
    static = static_baseline(gt)
    assert (static[0] == gt[0]).all() and (static[1] == gt[0]).all()
    assert (static[3][4:6, 4:6] == 2).all() and (static[3][0:2, 0:2] == 1).all()
    assert not (static[1] == 2).any()


def test_table_has_the_baselines():
    jf = JFWithBaselines()
    for name, gt, pred_masks, pred_scores in _videos(1, count=2):
        jf.add_labels(name, gt, masks_to_labels(pred_masks, gt.shape, pred_scores))
    text = format_jf_table(jf.summary(), jf.per_video)
    assert "static baseline" in text and "empty baseline" in text and "seq1" in text
    assert isinstance(DavisEvaluator().summary()["J&F-Mean"], float)
