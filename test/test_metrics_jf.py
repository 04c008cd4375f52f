"""DAVIS J&F on cases small enough to compute by hand."""

import numpy as np
import pytest

from ausm_eval.metrics import (
    DavisEvaluator,
    boundary_f,
    boundary_tolerance,
    disk,
    evaluate_video,
    jaccard,
    mean_recall_decay,
    seg2bmap,
)


def test_jaccard_by_hand():
    gt = np.zeros((4, 5), bool)
    gt[1:3, 1:3] = True  # 4 pixels
    pred = np.zeros((4, 5), bool)
    pred[1:3, 1:4] = True  # 6 pixels, 4 shared
    assert jaccard(gt, pred) == pytest.approx(4 / 6)
    assert jaccard(gt, np.zeros_like(gt)) == 0.0
    assert jaccard(np.zeros_like(gt), np.zeros_like(gt)) == 1.0  # nothing to find, nothing found
    both = jaccard(np.stack([gt, gt]), np.stack([pred, gt]))
    assert both.tolist() == pytest.approx([4 / 6, 1.0])


def test_seg2bmap_by_hand():
    m = np.zeros((5, 5), bool)
    m[1:3, 1:3] = True
    # Pixels differing from their right, lower or lower-right neighbour: an
    # outline shifted half a pixel toward the origin.
    expected = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 0, 0], [1, 1, 1, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]], bool)
    assert (seg2bmap(m) == expected).all()
    # The image border is no boundary: a full mask has none, a half mask has one line.
    assert not seg2bmap(np.ones((4, 6), bool)).any()
    half = np.zeros((4, 6), bool)
    half[:, :3] = True
    assert np.argwhere(seg2bmap(half)).tolist() == [[r, 2] for r in range(4)]


def test_tolerance_and_disk():
    assert boundary_tolerance(480, 854) == 8  # ceil(0.008 * 979.6)
    assert boundary_tolerance(100, 100) == 2  # ceil(1.13)
    assert boundary_tolerance(100, 100, bound_th=3) == 3
    d = disk(2)
    assert d.shape == (5, 5) and d.sum() == 13 and d[0, 2] == 1 and d[1, 0] == 0


def test_boundary_f_by_hand():
    # 100 x 100 frame, tolerance 2 px. Ground truth: columns 0..49, so its
    # boundary is column 49 (100 px).
    gt = np.zeros((100, 100), bool)
    gt[:, :50] = True
    for shift, expected in ((0, 1.0), (2, 1.0), (3, 0.0)):
        pred = np.zeros_like(gt)
        pred[:, : 50 + shift] = True
        assert boundary_f(gt, pred) == pytest.approx(expected)
    # A step: rows 0..49 end at column 51 (within 2 px), rows 50..99 at column 54
    # (too far). Prediction boundary: 50 px of column 51, 3 px of row 49
    # (columns 52..54) and 50 px of column 54 = 103 px, of which the 50 in
    # column 51 match: precision 50/103. Ground truth rows 0..49 are matched by
    # column 51, row 50 is sqrt(5) > 2 from (49, 51): recall 50/100.
    pred = np.zeros_like(gt)
    pred[:50, :52] = True
    pred[50:, :55] = True
    assert np.count_nonzero(seg2bmap(pred)) == 103
    p, r = 50 / 103, 0.5
    assert boundary_f(gt, pred) == pytest.approx(2 * p * r / (p + r))
    # Degenerate cases: both empty is perfect, one side empty scores 0.
    empty = np.zeros_like(gt)
    assert boundary_f(empty, empty) == 1.0
    assert boundary_f(gt, empty) == 0.0 and boundary_f(empty, gt) == 0.0
    per_frame = boundary_f(np.stack([gt, gt]), np.stack([gt, empty]))
    assert per_frame.tolist() == [1.0, 0.0]


def test_mean_recall_decay_by_hand():
    values = [1, 1, 0.5, 0, 0.2, 0.4, 0.6, 0.8]
    mean, recall, decay = mean_recall_decay(values)
    assert mean == pytest.approx(4.5 / 8)
    assert recall == pytest.approx(4 / 8)  # 1, 1, 0.6, 0.8 are above 0.5
    # Bins from round(linspace(1, 8, 5)) - 1 = [0, 2, 4, 5, 7]: first bin frames
    # 0..2, last bin frames 5..7.
    assert decay == pytest.approx((1 + 1 + 0.5) / 3 - (0.4 + 0.6 + 0.8) / 3)


def _block(t, h, w, frames, y0, y1, x0, x1):
    m = np.zeros((t, h, w), bool)
    for f in frames:
        m[f, y0:y1, x0:x1] = True
    return m


def test_semi_supervised_video_by_hand():
    t, h, w = 5, 20, 20
    gt = {1: _block(t, h, w, range(5), 2, 8, 2, 8), 2: _block(t, h, w, range(5), 10, 16, 10, 16)}
    pred = {1: gt[1].copy(), 7: gt[2].copy()}  # object 2 missing; id 7 is an extra track
    pred[1][2] = False  # object 1 lost in frame 2
    scores = evaluate_video(gt, pred)  # frames 1..3 scored (first and last dropped)
    assert scores[1].j.tolist() == [1.0, 0.0, 1.0]
    assert scores[1].f.tolist() == [1.0, 0.0, 1.0]
    assert scores[2].j.tolist() == [0.0, 0.0, 0.0]
    ev = DavisEvaluator()
    ev.add_video("toy", gt, pred)
    s = ev.summary()
    assert s["J-Mean"] == pytest.approx((2 / 3 + 0) / 2)
    assert s["J-Recall"] == pytest.approx((2 / 3 + 0) / 2)
    assert s["J&F-Mean"] == pytest.approx(1 / 3)
    # Three frames, bins [0, 1, 1, 2, 2] (0-based): first bin frames 0..1, last frame 2.
    assert s["J-Decay"] == pytest.approx(((1 + 0) / 2 - 1) / 2)
    assert ev.object_means()["toy_1"] == pytest.approx((2 / 3, 2 / 3))


def test_unsupervised_matching_by_hand():
    t, h, w = 3, 20, 20
    gt = {1: _block(t, h, w, range(3), 2, 8, 2, 8), 2: _block(t, h, w, range(3), 10, 16, 10, 16)}
    pred = {40: gt[2], 41: _block(t, h, w, range(3), 0, 1, 0, 1), 42: gt[1]}
    scores = evaluate_video(gt, pred, task="unsupervised")
    assert all(s.j.tolist() == [1.0] * 3 and s.f.tolist() == [1.0] * 3 for s in scores.values())
    # Fewer proposals than objects: the unmatched object scores against nothing.
    lone = evaluate_video(gt, {5: gt[1]}, task="unsupervised")
    assert lone[1].j.tolist() == [1.0] * 3 and lone[2].j.tolist() == [0.0] * 3
    with pytest.raises(ValueError, match="proposals"):
        evaluate_video(gt, {i: gt[1] for i in range(21)}, task="unsupervised")


def test_prediction_forms_agree():
    t, h, w = 4, 12, 12
    gt = {3: _block(t, h, w, [0, 1, 2], 2, 6, 2, 7)}
    as_array = {3: gt[3]}
    as_list = {3: [gt[3][0], gt[3][1], gt[3][2], None]}
    as_dict = {3: {0: gt[3][0], 1: gt[3][1], 2: gt[3][2]}}
    results = [evaluate_video(gt, p, skip_first_last=False)[3].j.tolist() for p in (as_array, as_list, as_dict)]
    assert results[0] == results[1] == results[2] == [1.0] * 4
