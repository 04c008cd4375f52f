"""Teacher forcing (paper Alg. 2): a clip's ground truth becomes both the history the
model reads and the targets it is trained on, so all T frames go through the model in
one parallel pass instead of feeding its own predictions back frame by frame.

Every ground-truth instance gets a random ID slot and a random switch frame s:
  * frames before s: a *detection* target, to be found by a detection query
    (Hungarian matched per frame);
  * frames from s on: a *tracking* target of its ID row (its mask where visible,
    "no object" where it is absent);
  * history: its ID is allocated from frame s on and marks a ground-truth mask.

How an instance becomes tracked mirrors the three ways it happens at inference
(ausm/session.py), because the history must look like what the session will feed:
  DISCOVERED   a detection query found it at frame s-1; the session then marks that
               mask, so the history of frame s carries the mask of frame s-1;
  MASK_PROMPT  a caller gave its mask for frame s; the history of frame s carries the
               mask of frame s itself (a prompt describes the frame it arrives with);
  BOX_PROMPT   as MASK_PROMPT, but the mark is the filled box that ausm/prompts.py
               rasterises from a box prompt, so box prompts work at inference.
From frame s+1 on the history carries the ground-truth mask of the previous frame,
where the session would carry its own prediction (empty while the object is absent;
the ID stays allocated).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ausm import History

DISCOVERED, MASK_PROMPT, BOX_PROMPT = 0, 1, 2


@dataclass
class InstancePlan:
    """Per instance of one clip: ID slot (-1: none), switch frame (T: never tracked), kind."""

    slot: np.ndarray
    switch: np.ndarray
    kind: np.ndarray


@dataclass
class Targets:
    """What the losses compare the outputs with. B clips, N instances (padded), T frames,
    K ID rows (padded), masks at the input resolution H x W."""

    masks: torch.Tensor  # bool [B, N, T, H, W]
    categories: torch.Tensor  # long [B, N], -1: no class (class loss skipped)
    present: torch.Tensor  # bool [B, N, T]
    annotated: torch.Tensor  # bool [B, T]; no loss at all on unannotated frames
    detect: torch.Tensor  # bool [B, T, N]: detection target at frame t
    track_instance: torch.Tensor  # long [B, K]: instance behind ID row k, -1 padding
    track_valid: torch.Tensor  # bool [B, T, K]: ID row k allocated at frame t
    datasets: List[str]  # per clip: which class head

    @property
    def num_id_rows(self):
        return self.track_instance.shape[1]


def visible_frames(clip):
    """bool [N, T]: instance visible in an annotated frame."""
    return clip.presence() & clip.annotated[None, :]


def plan_instances(visible, num_ids, rng, cfg) -> InstancePlan:
    """Draw ID slots and switch frames for one clip. visible: bool [N, T]."""
    n, t_len = visible.shape
    slot = np.full(n, -1, dtype=np.int64)
    switch = np.full(n, t_len, dtype=np.int64)
    kind = np.full(n, DISCOVERED, dtype=np.int64)
    # more instances than IDs: the extra ones can only ever be detected
    tracked_ok = rng.permutation(n) < num_ids
    slot[tracked_ok] = rng.choice(num_ids, size=int(tracked_ok.sum()), replace=False)
    for i in range(n):
        frames = np.flatnonzero(visible[i])
        if not tracked_ok[i] or len(frames) == 0:
            continue
        if rng.random() < cfg.prompt_prob:
            first = rng.random() < cfg.first_appearance_prob
            switch[i] = frames[0] if first else rng.choice(frames)
            kind[i] = BOX_PROMPT if rng.random() < cfg.box_prompt_prob else MASK_PROMPT
        elif rng.random() >= cfg.never_track_prob:
            # detected at frame d (visible there), tracked from d + 1
            switch[i] = rng.choice(frames) + 1
    return InstancePlan(slot, switch, kind)


def jittered_box_mask(mask, rng, jitter):
    """Filled rectangle around ``mask`` [H, W] with edges moved by up to ``jitter`` of
    the box size, rasterised like ausm/prompts.py (pixel centres inside the box)."""
    h, w = mask.shape
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    x1, y1, x2, y2 = float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)
    bw, bh = x2 - x1, y2 - y1
    dx1, dx2, dy1, dy2 = rng.uniform(-jitter, jitter, size=4)
    x1, x2 = np.clip([x1 + dx1 * bw, x2 + dx2 * bw], 0, w)
    y1, y2 = np.clip([y1 + dy1 * bh, y2 + dy2 * bh], 0, h)
    return box_mask((x1, y1, x2, y2), h, w)


def box_mask(box, h, w):
    """Filled box [x1, y1, x2, y2] -> bool [h, w]: pixels whose centre is inside,
    and at least the pixel the box sits in (as ausm/prompts.py rasterises)."""
    x1, y1, x2, y2 = box
    ys, xs = np.arange(h) + 0.5, np.arange(w) + 0.5
    out = ((ys >= y1) & (ys <= y2))[:, None] & ((xs >= x1) & (xs <= x2))[None, :]
    if not out.any():
        out[min(int(y1), h - 1), min(int(x1), w - 1)] = True
    return out


def keep_last_seen(pooled: torch.Tensor) -> torch.Tensor:
    """pooled: [B, N, T, h, w] masks -> each frame where an object is not seen holds its mask
    of the last frame it was seen in (empty before it first appears), as a streaming session
    with history propagation keeps an absent object's mark until it releases it."""
    out = pooled.clone()
    seen = pooled.flatten(3).amax(3) > 0  # [B, N, T]
    for t in range(1, pooled.shape[2]):
        out[:, :, t] = torch.where(seen[:, :, t, None, None], pooled[:, :, t], out[:, :, t - 1])
    return out


def build_batch(clips: Sequence, plans: Sequence[InstancePlan], rng, cfg, device=None, keep_marks: bool = False):
    """Clips (all T x H x W) and their plans -> (History at the 1/4 mask grid, Targets).
    ``keep_marks``: an object absent from the previous frame is marked where it was last
    seen (``keep_last_seen``) instead of not at all."""
    B = len(clips)
    T, H, W = clips[0].num_frames, clips[0].height, clips[0].width
    if H % 4 or W % 4:
        raise ValueError(f"clip size {H}x{W} must be a multiple of 4 (model input: of 32)")
    N = max(1, max(c.num_instances for c in clips))
    masks = np.zeros((B, N, T, H, W), dtype=bool)
    categories = np.full((B, N), -1, dtype=np.int64)
    present = np.zeros((B, N, T), dtype=bool)
    annotated = np.stack([c.annotated for c in clips])
    detect = np.zeros((B, T, N), dtype=bool)
    tracked = [np.flatnonzero(p.switch < T) for p in plans]
    K = max((len(t) for t in tracked), default=0)
    track_instance = np.full((B, K), -1, dtype=np.int64)
    id_slots = np.full((B, T, K), -1, dtype=np.int64)
    id_valid = np.zeros((B, T, K), dtype=bool)
    # prompt marks, which are not ground-truth masks of any one frame: [B, K, H, W]
    prompt_marks = np.zeros((B, K, H, W), dtype=bool)

    for b, (clip, plan) in enumerate(zip(clips, plans)):
        n = clip.num_instances
        masks[b, :n] = clip.masks
        categories[b, :n] = clip.category_ids
        present[b, :n] = visible_frames(clip)
        for i in range(n):
            s = plan.switch[i]
            # a prompted instance is tracked at its prompt frame; a discovered one is
            # still being detected at s-1, which is why its switch is one later
            detect[b, :s, i] = present[b, i, :s]
        for k, i in enumerate(tracked[b]):
            s = plan.switch[i]
            track_instance[b, k] = i
            id_slots[b, :, k] = plan.slot[i]
            id_valid[b, s:, k] = True
            if plan.kind[i] == MASK_PROMPT:
                prompt_marks[b, k] = clip.masks[i, s]
            elif plan.kind[i] == BOX_PROMPT:
                prompt_marks[b, k] = jittered_box_mask(clip.masks[i, s], rng, cfg.box_jitter)

    masks_t = torch.from_numpy(masks).to(device)
    # history of frame t = masks of frame t-1, on the 1/4 grid (area average, as the
    # session pools prompts); frame 0 has no previous frame
    pooled = F.avg_pool2d(masks_t.flatten(0, 2).float(), 4).view(B, N, T, H // 4, W // 4)
    if keep_marks:
        pooled = keep_last_seen(pooled)
    previous = torch.cat([torch.zeros_like(pooled[:, :, :1]), pooled[:, :, :-1]], dim=2)
    gather = torch.from_numpy(track_instance.clip(min=0)).to(device)  # [B, K]
    id_masks = previous[torch.arange(B, device=device)[:, None], gather]  # [B, K, T, h, w]
    id_masks = id_masks.transpose(1, 2).contiguous()  # [B, T, K, h, w]
    marks = (
        F.avg_pool2d(torch.from_numpy(prompt_marks).to(device).float().flatten(0, 1), 4).view(B, K, H // 4, W // 4)
        if K
        else None
    )
    current = np.zeros((B, T, K), dtype=bool)  # prompts are masks of their own frame
    for b in range(B):
        for k, i in enumerate(tracked[b]):
            if plans[b].kind[i] != DISCOVERED:
                id_masks[b, plans[b].switch[i], k] = marks[b, k]
                current[b, plans[b].switch[i], k] = True
    id_valid_t = torch.from_numpy(id_valid).to(device)
    id_masks = id_masks * id_valid_t[..., None, None]

    history = History(torch.from_numpy(id_slots).to(device), id_masks, id_valid_t, torch.from_numpy(current).to(device))
    targets = Targets(
        masks_t,
        torch.from_numpy(categories).to(device),
        torch.from_numpy(present).to(device),
        torch.from_numpy(annotated).to(device),
        torch.from_numpy(detect).to(device),
        torch.from_numpy(track_instance).to(device),
        id_valid_t,
        [c.dataset for c in clips],
    )
    return history, targets


def teacher_force(clips, num_ids, rng, cfg, device=None, keep_marks: bool = False):
    """Plan and build in one call: (History, Targets, plans)."""
    plans = [plan_instances(visible_frames(c), num_ids, rng, cfg) for c in clips]
    history, targets = build_batch(clips, plans, rng, cfg, device, keep_marks)
    return history, targets, plans
