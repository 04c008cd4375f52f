"""Does a backend's session behave like the PyTorch session? One scripted stream, two ways.

``compare_sessions`` drives a reference session and a candidate session with the same
frames and prompts (ADD by box and by points, REFINE, REMOVE; discovery on) and records:

  * closed loop: each session feeds back its own masks and state. Per frame, for every
    track either reports, the IoU of the two masks (0 if only one reports it), and the
    largest absolute difference between the two recurrent states.
  * lock step: the reference session's runner is a ``TeeRunner`` that also runs the
    candidate on exactly the reference's inputs (same state, same history masks), so
    the state difference measures the backend's arithmetic alone.

Why both: masks are thresholded logits fed back as history. Two correct fp32 backends
differ by ~1e-6, and once in a while a logit that close to the threshold flips one
history pixel; from then on the closed-loop states legitimately differ at that pixel
(by up to ~0.1, fading out of the conv window after d_conv frames and out of the SSM
state geometrically). Lock step is the arithmetic check; closed loop is what a user sees.
Used by the tests (short streams, ``from bench.runtime_parity import ...``) and
bench/backends.py (the 100-frame acceptance check); not part of the installed packages.
"""

from dataclasses import dataclass, field
from typing import List

import numpy as np
import torch

from ausm.prompts import Prompt, PromptAction


def moving_shapes(t, hw, num_shapes=4, seed=0):
    """Frame ``t`` (uint8 RGB) of a synthetic stream: discs and boxes drifting over a
    gradient; every shape lives 60 frames then is replaced, so objects come and go."""
    H, W = hw
    yy, xx = np.mgrid[0:H, 0:W]
    img = np.empty((H, W, 3), np.uint8)
    img[..., 0] = xx * 255 // max(W - 1, 1)
    img[..., 1] = yy * 255 // max(H - 1, 1)
    img[..., 2] = 96
    for k in range(num_shapes):
        gen, age = divmod(t + 17 * k, 60)
        rng = np.random.default_rng((seed, k, gen))
        cx = (rng.uniform(0.2, 0.8) * W + age * rng.uniform(-1.5, 1.5)) % W
        cy = (rng.uniform(0.2, 0.8) * H + age * rng.uniform(-1.0, 1.0)) % H
        r = rng.uniform(0.08, 0.16) * min(H, W)
        shape = ((xx - cx) ** 2 + (yy - cy) ** 2 < r * r) if k % 2 else ((abs(xx - cx) < r) & (abs(yy - cy) < 0.7 * r))
        img[shape] = rng.integers(0, 256, 3, dtype=np.uint8)
    return img


def scripted_prompts(num_frames, hw):
    """{frame index: [Prompt, ...]} exercising every prompt kind over the stream."""
    H, W = hw
    box = [0.1 * W, 0.1 * H, 0.45 * W, 0.5 * H]
    script = {
        0: [Prompt(PromptAction.ADD, track_id=1000, box=box, image_size=hw)],
        3: [
            Prompt(
                PromptAction.ADD,
                track_id=1001,
                points=[[0.7 * W, 0.6 * H], [0.75 * W, 0.3 * H]],
                point_labels=[1, 0],
                image_size=hw,
            )
        ],
        num_frames // 3: [
            Prompt(PromptAction.REFINE, track_id=1000, box=[0.2 * W, 0.2 * H, 0.6 * W, 0.7 * H], image_size=hw)
        ],
        num_frames // 2: [Prompt(PromptAction.REMOVE, track_id=1001)],
    }
    return {k: v for k, v in script.items() if k < num_frames}


class TeeRunner:
    """Runs ``reference`` and ``candidate`` on the same inputs; the stream follows the
    reference, the candidate's distance from it is recorded per call."""

    name = "tee"

    def __init__(self, reference, candidate):
        self.reference, self.candidate = reference, candidate
        self.config, self.device = reference.config, reference.device
        self.state_max_abs, self.logit_max_abs = [], []

    def initial_state(self, hw):
        return self.reference.initial_state(hw)

    def step(self, image, state, id_slots, id_masks, id_valid):
        out, nxt = self.reference.step(image, state, id_slots, id_masks, id_valid)
        dev = self.candidate.device
        out_c, nxt_c = self.candidate.step(
            image.to(dev), [s.to(dev) for s in state], id_slots.to(dev), id_masks.to(dev), id_valid.to(dev)
        )
        self.state_max_abs.append(_max_abs(nxt, nxt_c))
        self.logit_max_abs.append(
            _max_abs([out["mask_logits"], out["objectness_logits"]], [out_c["mask_logits"], out_c["objectness_logits"]])
        )
        return out, nxt


def _max_abs(xs, ys):
    return max(float((a.detach().cpu().float() - b.detach().cpu().float()).abs().max()) for a, b in zip(xs, ys))


@dataclass
class ParityReport:
    frames: int = 0
    min_iou: List[float] = field(default_factory=list)  # per frame, over tracks
    state_max_abs: List[float] = field(default_factory=list)  # per frame, closed loop
    lockstep_state_max_abs: List[float] = field(default_factory=list)
    lockstep_logit_max_abs: List[float] = field(default_factory=list)
    history_pixels_differing: List[int] = field(default_factory=list)  # per frame, closed loop
    history_pixels_total: int = 0
    tracks_seen: set = field(default_factory=set)
    new_tracks: int = 0  # discoveries + prompted adds
    worst: tuple = None  # (frame, track id, iou)

    @property
    def worst_iou(self):
        return min(self.min_iou) if self.min_iou else 1.0

    @property
    def worst_state_diff(self):
        return max(self.state_max_abs, default=0.0)

    @property
    def worst_lockstep_state_diff(self):
        return max(self.lockstep_state_max_abs, default=0.0)

    def first_divergence(self, tol=1e-3):
        """First frame whose closed-loop state differs by more than ``tol`` (None if none)."""
        return next((t for t, d in enumerate(self.state_max_abs) if d > tol), None)

    def summary(self):
        return (
            f"{self.frames} frames, {len(self.tracks_seen)} tracks ({self.new_tracks} started); "
            f"closed loop: min mask IoU {self.worst_iou:.4f}, max |state diff| "
            f"{self.worst_state_diff:.2e}; lock step: max |state diff| "
            f"{self.worst_lockstep_state_diff:.2e}, max |logit diff| "
            f"{max(self.lockstep_logit_max_abs, default=0.0):.2e}"
        )


def mask_iou(a, b):
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def compare_sessions(reference_runner, candidate_runner, num_frames, frame_hw, prompts=None, seed=0, settings=None):
    """Run the scripted stream through a reference session and a candidate session (a
    StreamSession on each runner; see the module docstring) and report how far apart they are.
    ``candidate_runner`` is used twice: as the closed-loop session's runner and inside the
    reference's TeeRunner."""
    from ausm.session import StreamSession

    prompts = scripted_prompts(num_frames, frame_hw) if prompts is None else prompts
    tee = TeeRunner(reference_runner, candidate_runner)
    reference = StreamSession(tee, settings)
    candidate = StreamSession(candidate_runner, settings)
    rep = ParityReport()
    for t in range(num_frames):
        for p in prompts.get(t, []):
            reference.prompt(p)
            candidate.prompt(p)
        frame = moving_shapes(t, frame_hw, seed=seed)
        r1, r2 = reference.step(frame), candidate.step(frame)
        ids = set(r1.track_ids.tolist()) | set(r2.track_ids.tolist())
        rep.tracks_seen |= ids
        rep.new_tracks += int(r1.is_new.sum())
        ious = []
        for tid in ids:
            i1, i2 = np.flatnonzero(r1.track_ids == tid), np.flatnonzero(r2.track_ids == tid)
            iou = mask_iou(r1.masks[i1[0]], r2.masks[i2[0]]) if len(i1) and len(i2) else 0.0
            ious.append(iou)
            if rep.worst is None or iou < rep.worst[2]:
                rep.worst = (t, tid, iou)
        rep.min_iou.append(min(ious) if ious else 1.0)
        with torch.no_grad():
            rep.state_max_abs.append(_max_abs(reference._state, candidate._state))
            rep.history_pixels_differing.append(int((reference._masks.cpu() != candidate._masks.cpu()).sum()))
            rep.history_pixels_total = reference._masks.numel()
        rep.frames += 1
    rep.lockstep_state_max_abs = tee.state_max_abs
    rep.lockstep_logit_max_abs = tee.logit_max_abs
    return rep
