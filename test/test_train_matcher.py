"""Hungarian matching on hand-made cases."""

import numpy as np
import torch
from helpers.train import square_clip

from ausm_train.train.config import TeacherForcingConfig
from ausm_train.train.matcher import HungarianMatcher, assign, pairwise_bce, pairwise_dice
from ausm_train.train.teacher_forcing import DISCOVERED, InstancePlan, build_batch


def test_assign_finds_the_minimum_cost_permutation():
    cost = np.array([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]])
    q, t = assign(cost)
    # greedy would take (1,1)=0 then (0,?)... the optimum is 0->1, 1->0, 2->2 (total 5)
    assert sorted(zip(q.tolist(), t.tolist())) == [(0, 1), (1, 0), (2, 2)]
    assert cost[q, t].sum() == 5.0


def test_assign_more_queries_than_targets_and_empty():
    cost = np.array([[9.0], [1.0], [5.0]])
    q, t = assign(cost)
    assert q.tolist() == [1] and t.tolist() == [0]
    q, t = assign(np.zeros((3, 0)))
    assert len(q) == 0 and len(t) == 0


def test_pairwise_costs_prefer_the_matching_mask():
    target = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
    logits = torch.tensor([[-8.0, -8.0, 8.0, 8.0], [8.0, 8.0, -8.0, -8.0]])  # query 0 ~ target 1
    bce, dice = pairwise_bce(logits, target), pairwise_dice(logits, target)
    assert bce.shape == dice.shape == (2, 2)
    assert bce[0, 1] < 0.01 and bce[0, 0] > 4
    assert dice[1, 0] < 0.01 and dice[1, 1] > 0.75  # 1 - 1/5 with the +1 smoothing
    # BCE by hand for one pair: mean over points of softplus(-x) on positives, softplus(x) on negatives
    x, y = logits[0], target[0]
    by_hand = torch.nn.functional.binary_cross_entropy_with_logits(x, y)
    assert torch.isclose(bce[0, 0], by_hand)


def test_matcher_pairs_detection_queries_with_their_objects_per_frame():
    # two squares, both detection targets in both frames; one tracked object (ID row)
    T, H = 2, 32
    a = [(0, 0, 8), (0, 2, 8)]
    b = [(16, 16, 8), (18, 16, 8)]
    c = [(0, 20, 8), (0, 20, 8)]
    clip = square_clip(T=T, H=H, W=H, boxes=[a, b, c], categories=[2, 5, 1])
    plan = InstancePlan(slot=np.array([0, 1, 3]), switch=np.array([T, T, 0]), kind=np.array([DISCOVERED, 1, 1]))
    _, targets = build_batch([clip], [plan], np.random.default_rng(0), TeacherForcingConfig())
    K, Qd, L = targets.num_id_rows, 4, 2
    assert K == 1
    # detection query 2 predicts object a (class 2), query 0 predicts object b (class 5),
    # in frame 0; swapped in frame 1; queries 1 and 3 predict nothing
    logits = torch.full((L, 1, T, K + Qd, H // 4, H // 4), -10.0)
    cls = torch.zeros(L, 1, T, K + Qd, 6)
    obj = torch.full((L, 1, T, K + Qd), -5.0)
    small = lambda m: torch.from_numpy(m[::4, ::4].copy())
    for t, (qa, qb) in enumerate([(2, 0), (0, 2)]):
        logits[:, 0, t, K + qa][:, small(clip.masks[0, t])] = 10.0
        logits[:, 0, t, K + qb][:, small(clip.masks[1, t])] = 10.0
        cls[:, 0, t, K + qa, 2] = cls[:, 0, t, K + qb, 5] = 5.0
        obj[:, 0, t, K + qa] = obj[:, 0, t, K + qb] = 5.0
    out = {"mask_logits": logits, "class_logits": {"synthetic": cls}, "objectness_logits": obj}
    m = HungarianMatcher(num_points=256)(out, targets, torch.Generator().manual_seed(0))
    got = sorted(zip(m.layer.tolist(), m.frame.tolist(), m.query.tolist(), m.instance.tolist()))
    want = sorted(
        (layer, t, K + q, i)
        for layer in range(L)
        for t, pairs in enumerate([((2, 0), (0, 1)), ((0, 0), (2, 1))])
        for q, i in pairs
    )
    assert got == want
    assert (m.batch == 0).all()
    # the tracked object (instance 2) is never a detection target
    assert 2 not in m.instance.tolist()
