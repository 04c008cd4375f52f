"""Loss sanity: a perfect prediction scores lower than a poor one, the terms react to
what they are about, and one step's gradient reaches every module of the model."""

import numpy as np
import torch
from helpers.train import TEST_MODEL, square_clip

from ausm import build_model
from ausm_train.synthetic import SyntheticConfig, generate_video
from ausm_train.train.config import LossConfig, TeacherForcingConfig
from ausm_train.train.losses import SetCriterion
from ausm_train.train.teacher_forcing import DISCOVERED, MASK_PROMPT, InstancePlan, build_batch, teacher_force

T, H, L, QD = 3, 32, 2, 4


def setting():
    a = [(0, 0, 12), (0, 4, 12), (0, 8, 12)]
    b = [(16, 16, 12), (16, 16, 12), None]  # tracked, gone at the last frame
    clip = square_clip(T=T, H=H, W=H, boxes=[a, b], categories=[3, 1])
    plan = InstancePlan(slot=np.array([0, 1]), switch=np.array([T, 0]), kind=np.array([DISCOVERED, MASK_PROMPT]))
    _, targets = build_batch([clip], [plan], np.random.default_rng(0), TeacherForcingConfig())
    return clip, targets


def outputs(clip, quality):
    """quality 'perfect': ID row = object b, detection query 1 = object a, the rest empty;
    'poor': every query predicts the same blob with middling scores."""
    K = 1
    Q = K + QD
    small = lambda m: torch.from_numpy(m[::4, ::4].copy())
    logits = torch.full((L, 1, T, Q, H // 4, H // 4), -8.0)
    obj = torch.full((L, 1, T, Q), -6.0)
    cls = torch.zeros(L, 1, T, Q, 8)
    if quality == "perfect":
        for t in range(T):
            logits[:, 0, t, K + 1][:, small(clip.masks[0, t])] = 8.0
            obj[:, 0, t, K + 1] = 6.0
            cls[:, 0, t, K + 1, 3] = 8.0
            if clip.masks[1, t].any():
                logits[:, 0, t, 0][:, small(clip.masks[1, t])] = 8.0
                obj[:, 0, t, 0] = 6.0
                cls[:, 0, t, 0, 1] = 8.0
    else:
        logits[..., 2:6, 2:6] = 1.0
        obj[:] = 0.0
    return {
        "mask_logits": logits.requires_grad_(),
        "class_logits": {"synthetic": cls.requires_grad_()},
        "objectness_logits": obj.requires_grad_(),
    }


def test_perfect_prediction_has_lower_loss_in_every_term():
    clip, targets = setting()
    crit = SetCriterion(LossConfig(num_points=256, match_points=256))
    good, gp = crit(outputs(clip, "perfect"), targets, torch.Generator().manual_seed(0))
    bad, bp = crit(outputs(clip, "poor"), targets, torch.Generator().manual_seed(0))
    assert good < 0.1 * bad
    for term in ("objectness", "class", "mask", "dice"):
        assert gp[term] < bp[term], term
    # positives per layer: object a in 3 frames (detection) + object b in 2 frames (ID row)
    assert gp["positives"] == 5


def test_absent_tracked_object_must_say_no_object():
    clip, targets = setting()
    crit = SetCriterion(LossConfig(num_points=256, match_points=256))
    out = outputs(clip, "perfect")
    base, _ = crit(out, targets, torch.Generator().manual_seed(0))
    with torch.no_grad():
        out["objectness_logits"][:, 0, T - 1, 0] = 6.0  # claims object b at its absent frame
    worse, parts = crit(out, targets, torch.Generator().manual_seed(0))
    assert worse > base + 1.0


def test_no_object_weight_scales_the_empty_detection_queries():
    clip, targets = setting()
    out = outputs(clip, "perfect")
    with torch.no_grad():
        out["objectness_logits"][:, 0, :, 3] = 3.0  # an unmatched detection query fires
    low = SetCriterion(LossConfig(no_object_weight=0.01))(out, targets, torch.Generator().manual_seed(0))[1]
    high = SetCriterion(LossConfig(no_object_weight=1.0))(out, targets, torch.Generator().manual_seed(0))[1]
    assert high["objectness"] > 3 * low["objectness"]


def test_gradient_reaches_every_module_in_one_parallel_pass():
    torch.manual_seed(0)
    model = build_model("tiny", **TEST_MODEL).train()
    cfg = SyntheticConfig(height=64, width=64, num_frames=3, min_objects=2, max_objects=3)
    clips = [generate_video(cfg, 0, i) for i in range(2)]
    frames = torch.from_numpy(np.stack([c.frames for c in clips])).permute(0, 1, 4, 2, 3).float() / 255
    tf = TeacherForcingConfig(prompt_prob=0.5, never_track_prob=0.0)
    history, targets, _ = teacher_force(clips, TEST_MODEL["num_ids"], np.random.default_rng(1), tf)
    assert history.id_valid.any() and targets.detect.any()
    loss, _ = SetCriterion(LossConfig(num_points=128, match_points=128))(model(frames, history), targets)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient reaches: {missing}"


def test_id_rows_from_leaves_early_id_row_predictions_unsupervised():
    clip, targets = setting()
    out = outputs(clip, "perfect")
    with torch.no_grad():
        out["mask_logits"][0, 0, :, 0] = 3.0  # ID row fills the map before it may know its object
    # with id_rows_from=1, the early ID-row prediction is not supervised at all
    off = LossConfig(num_points=256, match_points=256, id_rows_from=1)
    a = SetCriterion(off)(outputs(clip, "perfect"), targets, torch.Generator().manual_seed(0))[0]
    b = SetCriterion(off)(out, targets, torch.Generator().manual_seed(0))[0]
    assert torch.isclose(a, b)


def test_history_probe_trains_the_history_path():
    from ausm_train.train.history_probe import HistoryProbe

    torch.manual_seed(0)
    model = build_model("tiny", **TEST_MODEL).train()
    cfg = SyntheticConfig(height=64, width=64, num_frames=3, min_objects=2, max_objects=3)
    clips = [generate_video(cfg, 0, i) for i in range(2)]
    frames = torch.from_numpy(np.stack([c.frames for c in clips])).permute(0, 1, 4, 2, 3).float() / 255
    tf = TeacherForcingConfig(prompt_prob=1.0, never_track_prob=0.0)
    history, targets, _ = teacher_force(clips, TEST_MODEL["num_ids"], np.random.default_rng(1), tf)
    probe = HistoryProbe(TEST_MODEL["hidden_dim"])
    probe.attach(model)
    model(frames, history)
    loss = probe.loss(model, history, targets)
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    for name in ("compressor", "history_decoder", "marker", "id_buffer"):
        grads = [p.grad for n, p in model.named_parameters() if n.startswith(name) and p.grad is not None]
        assert grads and sum(g.abs().sum() for g in grads) > 0, name
    assert all(p.grad is None for p in model.mask_decoder.parameters()), "the probe reads G_t only"
