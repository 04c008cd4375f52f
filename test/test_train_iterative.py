"""The iterative baseline runs the streaming path frame by frame; on the same
teacher-forced history it must compute what the parallel pass computes (that is the
whole premise of parallel training), and its gradients must reach the same weights."""

import numpy as np
import torch
from helpers.train import TEST_MODEL

from ausm import build_model
from ausm_train.synthetic import SyntheticConfig, generate_video
from ausm_train.train.config import LossConfig, TeacherForcingConfig
from ausm_train.train.iterative import forward_iterative
from ausm_train.train.losses import SetCriterion
from ausm_train.train.teacher_forcing import teacher_force


def batch(T=4, seed=0):
    cfg = SyntheticConfig(height=64, width=64, num_frames=T, min_objects=2, max_objects=3)
    clips = [generate_video(cfg, seed, i) for i in range(2)]
    frames = torch.from_numpy(np.stack([c.frames for c in clips])).permute(0, 1, 4, 2, 3).float() / 255
    tf = TeacherForcingConfig(prompt_prob=0.6, never_track_prob=0.0)
    history, targets, _ = teacher_force(clips, TEST_MODEL["num_ids"], np.random.default_rng(seed), tf)
    return frames, history, targets


def test_iterative_matches_parallel_forward():
    torch.manual_seed(0)
    model = build_model("tiny", **TEST_MODEL).eval()  # eval: BatchNorm must not see batch statistics
    frames, history, _ = batch()
    assert history.id_valid.any(), "the check needs tracked objects"
    with torch.no_grad():
        par = model.forward_clip(frames, history)
        it = forward_iterative(model, frames, history)
    assert par["mask_logits"].shape == it["mask_logits"].shape
    for key in ("mask_logits", "objectness_logits"):
        torch.testing.assert_close(it[key], par[key], atol=2e-4, rtol=1e-4)
    for head in par["class_logits"]:
        torch.testing.assert_close(it["class_logits"][head], par["class_logits"][head], atol=2e-4, rtol=1e-4)


def test_iterative_loss_trains_the_same_weights():
    torch.manual_seed(0)
    model = build_model("tiny", **TEST_MODEL).eval()
    frames, history, targets = batch()
    crit = SetCriterion(LossConfig(num_points=64, match_points=64))
    grads = []
    for forward in (lambda: model.forward_clip(frames, history), lambda: forward_iterative(model, frames, history)):
        model.zero_grad()
        loss, _ = crit(forward(), targets, torch.Generator().manual_seed(0))
        loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], atol=5e-4, rtol=5e-3, msg=name)
