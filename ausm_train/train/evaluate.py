"""Evaluation of a checkpoint on held-out videos, through the streaming path a robot
uses (ausm.session.StreamSession), scored by ausm_train.metrics.

  prompted    (DAVIS semi-supervised): every object is given to the session as a
              prompt on the frame it first appears (its mask, or its box), discovery
              off; scored with J&F.
  unprompted  (YouTube-VIS): no prompts, discovery on; every track the session
              reports becomes a video instance (score = mean objectness, class =
              majority vote); scored with video mask AP, class-aware and class-agnostic.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict

import numpy as np
from safetensors import safe_open

from ausm.session import StreamSession
from ausm_train.metrics import (SEMI_SUPERVISED, DavisEvaluator, PredTrack, VideoAPEvaluator, clip_shape,
                                gt_masks_from_clip, gt_tracks_from_clip)
from ausm_train.synthetic import SyntheticConfig, generate_video


def train_config_of(checkpoint):
    """The training config stored in a checkpoint by the trainer (None if absent)."""
    with safe_open(str(checkpoint), framework="pt") as f:
        meta = f.metadata() or {}
    return json.loads(meta["train_config"]) if "train_config" in meta else None


def synthetic_settings(train_config):
    """The generator settings the model was trained on (first synthetic source)."""
    for spec in (train_config or {}).get("data", {}).get("sources", []):
        if spec.get("kind") == "synthetic":
            return dict(spec.get("args", {}).get("config", {})), int(spec.get("args", {}).get("seed", 0))
    return {}, 0


def held_out_synthetic(settings, num_videos, seed, num_frames=None):
    cfg = dict(settings)
    if num_frames:
        cfg["num_frames"] = num_frames
    for key in ("classes", "radius", "noise_sigma"):
        if key in cfg:
            cfg[key] = tuple(cfg[key])
    config = SyntheticConfig(**cfg)
    return (generate_video(config, seed, i) for i in range(num_videos))


def tight_box(mask):
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return [float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)]


def run_prompted(model, clip, prompt="mask"):
    """Object id -> predicted bool [T, H, W], each object prompted where it first appears."""
    session = StreamSession(model, discovery=False, max_absent_frames=10 ** 6)
    visible = clip.presence()
    first = {i: int(np.flatnonzero(visible[i])[0]) for i in range(clip.num_instances) if visible[i].any()}
    pred = {int(clip.instance_ids[i]): np.zeros(clip.masks.shape[1:], dtype=bool) for i in first}
    for t in range(clip.num_frames):
        for i, f in first.items():
            if f == t:
                m = clip.masks[i, t]
                session.add_object(mask=m if prompt == "mask" else None,
                                   box=tight_box(m) if prompt == "box" else None,
                                   object_id=int(clip.instance_ids[i]), image_size=m.shape)
        result = session.step(clip.frames[t])
        for tid, m in zip(result.track_ids, result.masks):
            if int(tid) in pred:
                pred[int(tid)][t] = m
    return pred


def run_unprompted(model, clip, **settings):
    """Track id -> PredTrack over the whole video, discovery on, no prompts."""
    session = StreamSession(model, discovery=True, **settings)
    masks = defaultdict(dict)
    scores, classes = defaultdict(list), defaultdict(list)
    for t in range(clip.num_frames):
        result = session.step(clip.frames[t])
        for tid, m, s, c in zip(result.track_ids, result.masks, result.scores, result.class_ids):
            masks[int(tid)][t] = m
            scores[int(tid)].append(float(s))
            classes[int(tid)].append(int(c))
    return {tid: PredTrack(Counter(classes[tid]).most_common(1)[0][0], float(np.mean(scores[tid])), masks[tid])
            for tid in masks}


def evaluate_clips(model, clips, prompts=("mask", "box"), unprompted=True, session_settings=None):
    model.eval()
    davis = {p: DavisEvaluator(task=SEMI_SUPERVISED) for p in prompts}
    ap = VideoAPEvaluator(class_agnostic=False)
    ap_agnostic = VideoAPEvaluator(class_agnostic=True)
    n = 0
    for clip in clips:
        n += 1
        shape = clip_shape(clip)
        for p in prompts:
            davis[p].add_video(clip.video, gt_masks_from_clip(clip), run_prompted(model, clip, p), shape=shape)
        if unprompted:
            gt = gt_tracks_from_clip(clip)
            pred = run_unprompted(model, clip, **(session_settings or {}))
            ap.add_video(gt, pred, shape)
            ap_agnostic.add_video(gt, pred, shape)
    out = {"videos": n}
    for p in prompts:
        out[f"prompted_{p}"] = davis[p].summary()
    if unprompted:
        for name, ev in (("unprompted", ap), ("unprompted_class_agnostic", ap_agnostic)):
            s = ev.summary()
            s.pop("per_category_AP", None)
            out[name] = s
    return out


def headline(results):
    """The numbers the README quotes."""
    line = {}
    if "prompted_mask" in results:
        line["J&F (mask prompts)"] = results["prompted_mask"]["J&F-Mean"]
    if "prompted_box" in results:
        line["J&F (box prompts)"] = results["prompted_box"]["J&F-Mean"]
    if "unprompted" in results:
        line["video AP"] = results["unprompted"]["AP"]
        line["video AP50"] = results["unprompted"]["AP50"]
        line["class-agnostic AP"] = results["unprompted_class_agnostic"]["AP"]
    return line
