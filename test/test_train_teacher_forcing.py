"""Teacher forcing (paper Alg. 2): detection targets before the switch, tracking after,
ground truth in the history from the switch frame, exactly as the session would mark it."""

import numpy as np
import torch
import torch.nn.functional as F
from helpers.train import square_clip

from ausm_train.train.config import TeacherForcingConfig
from ausm_train.train.teacher_forcing import (
    BOX_PROMPT,
    DISCOVERED,
    MASK_PROMPT,
    InstancePlan,
    build_batch,
    keep_last_seen,
    plan_instances,
    visible_frames,
)

T = 5


def pooled(mask):
    return F.avg_pool2d(torch.from_numpy(mask).float()[None, None], 4)[0, 0]


def two_objects():
    # object A visible in all frames, moving right; object B absent at frame 0 and 3
    a = [(4, 2 + 2 * t, 8) for t in range(T)]
    b = [None, (16, 16, 12), (16, 16, 12), None, (12, 12, 12)]
    return square_clip(T=T, boxes=[a, b], categories=[1, 4])


def test_discovered_instance_detected_until_switch_then_tracked_with_previous_mask():
    clip = two_objects()
    plan = InstancePlan(slot=np.array([5, -1]), switch=np.array([3, T]), kind=np.array([DISCOVERED, DISCOVERED]))
    history, targets = build_batch([clip], [plan], np.random.default_rng(0), TeacherForcingConfig())
    # A: detected at frames 0..2 (so at inference it was found at 2), tracked from 3
    assert targets.detect[0, :, 0].tolist() == [True, True, True, False, False]
    # B never switches: a detection target wherever visible
    assert targets.detect[0, :, 1].tolist() == [False, True, True, False, True]
    assert targets.track_instance.tolist() == [[0]]
    assert history.id_valid[0, :, 0].tolist() == [False, False, False, True, True]
    assert (history.id_slots[0, :, 0] == 5).all()
    # history of frame t carries the mask of frame t-1 from the switch on, nothing before
    for t in range(T):
        expected = pooled(clip.masks[0, t - 1]) if t >= 3 else torch.zeros(8, 8)
        assert torch.equal(history.id_masks[0, t, 0], expected), t
    # a detection's mark is of the frame before the switch: propagation moves it
    assert not history.id_current.any()


def test_mask_prompt_marks_its_own_frame_and_tracks_through_absence():
    clip = two_objects()
    plan = InstancePlan(slot=np.array([-1, 2]), switch=np.array([T, 1]), kind=np.array([DISCOVERED, MASK_PROMPT]))
    history, targets = build_batch([clip], [plan], np.random.default_rng(0), TeacherForcingConfig())
    k = 0
    assert targets.track_instance[0, k] == 1
    # prompted at frame 1: not a detection target there (it is tracked), nor before (absent)
    assert not targets.detect[0, :, 1].any()
    assert torch.equal(history.id_masks[0, 1, k], pooled(clip.masks[1, 1]))  # the prompt frame itself
    assert torch.equal(history.id_masks[0, 2, k], pooled(clip.masks[1, 1]))  # then the previous frame
    # only the prompt is already of its frame (ausm.propagation leaves it where it is)
    assert history.id_current[0, :, k].tolist() == [False, True, False, False, False]
    assert torch.equal(history.id_masks[0, 4, k], torch.zeros(8, 8))  # absent at 3: empty mark
    assert history.id_valid[0, 3, k] and history.id_valid[0, 4, k]  # ...but the ID stays
    # tracking target of frame 3 is "absent"
    assert targets.present[0, 1].tolist() == [False, True, True, False, True]


def test_with_kept_marks_an_absent_object_is_marked_where_it_was_last_seen():
    clip = two_objects()
    plan = InstancePlan(slot=np.array([-1, 2]), switch=np.array([T, 1]), kind=np.array([DISCOVERED, MASK_PROMPT]))
    history, targets = build_batch([clip], [plan], np.random.default_rng(0), TeacherForcingConfig(), keep_marks=True)
    # B is absent at frame 3: frame 4 reads its mask of frame 2, as the session keeps it
    assert torch.equal(history.id_masks[0, 4, 0], pooled(clip.masks[1, 2]))
    assert not targets.present[0, 1, 3]  # the target still says absent
    # before an object is first seen there is nothing to keep; once seen again, its new mask
    seq = torch.zeros(1, 1, 5, 2, 2)
    seq[0, 0, 1, 0, 0] = seq[0, 0, 3, 1, 1] = 1.0
    kept = keep_last_seen(seq)[0, 0]
    assert kept[0].sum() == 0 and torch.equal(kept[2], seq[0, 0, 1]) and torch.equal(kept[4], seq[0, 0, 3])


def test_box_prompt_marks_a_filled_box():
    # a plus-shaped object: its box covers pixels the mask does not
    clip = square_clip(T=2, boxes=[[(8, 8, 16), (8, 8, 16)]])
    clip.masks[0, :, 8:12, 8:12] = False
    plan = InstancePlan(slot=np.array([0]), switch=np.array([0]), kind=np.array([BOX_PROMPT]))
    cfg = TeacherForcingConfig(box_jitter=0.0)
    history, _ = build_batch([clip], [plan], np.random.default_rng(0), cfg)
    box = np.zeros((32, 32), dtype=bool)
    box[8:24, 8:24] = True
    assert torch.equal(history.id_masks[0, 0, 0], pooled(box))
    assert torch.equal(history.id_masks[0, 1, 0], pooled(clip.masks[0, 0]))  # later: ground truth


def test_plan_draws_distinct_slots_and_switches_inside_visible_frames():
    clip = two_objects()
    visible = visible_frames(clip)
    kinds = set()
    for seed in range(200):
        plan = plan_instances(visible, num_ids=8, rng=np.random.default_rng(seed), cfg=TeacherForcingConfig())
        assert len(set(plan.slot.tolist())) == 2 and (plan.slot >= 0).all() and (plan.slot < 8).all()
        for i in range(2):
            s, kind = plan.switch[i], plan.kind[i]
            kinds.add(int(kind))
            if s == T:
                continue
            if kind == DISCOVERED:
                assert visible[i, s - 1], "discovered: detected (visible) at the frame before the switch"
            else:
                assert visible[i, s], "prompted: the prompt frame shows the object"
    assert kinds == {DISCOVERED, MASK_PROMPT, BOX_PROMPT}


def test_more_instances_than_ids_leaves_the_rest_to_detection():
    clip = square_clip(T=2, boxes=[[(2 * i, 2 * i, 4)] * 2 for i in range(6)])
    cfg = TeacherForcingConfig(prompt_prob=1.0)
    plan = plan_instances(visible_frames(clip), num_ids=4, rng=np.random.default_rng(0), cfg=cfg)
    assert (plan.slot >= 0).sum() == 4 and (plan.switch < 2).sum() == 4


def test_own_predictions_replace_the_history_after_the_switch_as_the_session_would():
    from ausm_train.train.own_predictions import own_prediction_history

    clip = two_objects()
    plan = InstancePlan(slot=np.array([5, 2]), switch=np.array([1, 2]), kind=np.array([MASK_PROMPT, MASK_PROMPT]))
    history, _ = build_batch([clip], [plan], np.random.default_rng(0), TeacherForcingConfig())
    K, (h, w) = history.id_slots.shape[-1], history.id_masks.shape[-2:]
    Q = K + 3  # detection rows after the ID rows are ignored
    logits = torch.full((2, 1, T, Q, h, w), -5.0)
    logits[-1, 0, :, :, :4, :4] = 5.0  # every row predicts the same top-left square
    objectness = torch.full((2, 1, T, Q), 5.0)
    objectness[-1, 0, 2, 0] = -5.0  # row 0 says "absent" at frame 2
    own = own_prediction_history({"mask_logits": logits, "objectness_logits": objectness}, history)
    square = torch.zeros(h, w)
    square[:4, :4] = 1.0
    for k, switch in enumerate([1, 2]):
        # up to and including the switch frame: the teacher-forced marks (the prompt)
        assert torch.equal(own.id_masks[0, : switch + 1, k], history.id_masks[0, : switch + 1, k])
        for t in range(switch + 1, T):
            expected = torch.zeros(h, w) if (k, t - 1) == (0, 2) else square
            assert torch.equal(own.id_masks[0, t, k], expected), (k, t)
    assert torch.equal(own.id_valid, history.id_valid) and torch.equal(own.id_slots, history.id_slots)
    # with kept marks the row that said "absent" at frame 2 passes on the mark it read there
    kept = own_prediction_history({"mask_logits": logits, "objectness_logits": objectness}, history, keep_marks=True)
    assert torch.equal(kept.id_masks[0, 3, 0], history.id_masks[0, 2, 0])
    assert float(kept.id_masks[0, 3, 0].sum()) > 0
    assert torch.equal(kept.id_masks[0, 4, 0], square)


def test_jpeg_artifacts_reencode_a_whole_clip_at_one_quality():
    from ausm_train.data.augment import JpegArtifacts

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(3, 32, 48, 3), dtype=np.uint8)
    frames[:, 8:24, 8:40] = (200, 30, 30)
    assert JpegArtifacts(prob=0.0)(frames, rng) is frames
    out = JpegArtifacts(prob=1.0, quality=(40, 40))(frames, rng)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert not np.array_equal(out, frames)
    # the flat red block survives in colour (RGB order kept), the noise does not
    assert np.abs(out[:, 12:20, 12:36].astype(int) - (200, 30, 30)).mean() < 20
