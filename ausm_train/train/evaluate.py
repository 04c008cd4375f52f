"""Evaluation of a checkpoint on held-out videos, through the streaming path a robot
uses (ausm.session.StreamSession), scored by ausm_eval.metrics.

  prompted    (DAVIS 2017 semi-supervised): every object is given to the session as a
              prompt on the frame it first appears (its mask, or its box), discovery
              off; the output is one label per pixel; scored with J&F beside the static
              and empty baselines (ausm_train.evaluation.inference.predict_prompted).
  unprompted  (YouTube-VIS): no prompts, discovery on; every track enters video AP once
              per class the model and the data share by name, scored mean(objectness x
              class probability); class-agnostic AP (one entry per track) beside it.

Folders in the official DAVIS and YouTube-VIS layouts: ausm_train.evaluation.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Iterable, Mapping, Sequence

import numpy as np
from safetensors import safe_open

from ausm.session import StreamSession
from ausm_eval.metrics import (
    JFWithBaselines,
    PredTrack,
    VideoAPEvaluator,
    class_agnostic_tracks,
    class_scored_tracks,
    match_classes,
)
from ausm_train.data.types import VideoClip
from ausm_train.evaluation.from_clip import clip_shape, gt_tracks_from_clip
from ausm_train.evaluation.inference import first_appearances, observe_unprompted, predict_prompted, tight_box
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


def run_prompted(model, clip, prompt="mask"):
    """Object id -> predicted bool [T, H, W] as the ROS node reports it (one label per
    pixel, overlaps to the higher score; the model's own mask on the prompt frame):
    what the bag replay tools are checked against."""
    session = StreamSession(model, discovery=False, release_after_frames=10**6)
    visible = clip.presence()
    first = {i: int(np.flatnonzero(visible[i])[0]) for i in range(clip.num_instances) if visible[i].any()}
    labels = np.zeros(clip.masks.shape[1:], dtype=np.int64)
    for t in range(clip.num_frames):
        for i, f in first.items():
            if f == t:
                m = clip.masks[i, t]
                session.add_object(
                    mask=m if prompt == "mask" else None,
                    box=tight_box(m) if prompt == "box" else None,
                    track_id=int(clip.instance_ids[i]),
                    image_size=m.shape,
                )
        labels[t] = session.step(clip.frames[t]).label_image(np.int64)
    return {int(clip.instance_ids[i]): labels == int(clip.instance_ids[i]) for i in first}


def run_unprompted(model, clip, **settings):
    """Track id -> PredTrack over the whole video, discovery on, no prompts; class =
    majority vote, score = mean objectness (what the ROS messages carry)."""
    session = StreamSession(model, discovery=True, **settings)
    masks = defaultdict(dict)
    scores, classes = defaultdict(list), defaultdict(list)
    for t in range(clip.num_frames):
        result = session.step(clip.frames[t])
        for tid, m, s, c in zip(result.track_ids, result.masks, result.scores, result.class_ids):
            masks[int(tid)][t] = m
            scores[int(tid)].append(float(s))
            classes[int(tid)].append(int(c))
    return {
        tid: PredTrack(Counter(classes[tid]).most_common(1)[0][0], float(np.mean(scores[tid])), masks[tid])
        for tid in masks
    }


def clip_labels(clip: VideoClip) -> np.ndarray:
    """int64 [T, H, W] ground-truth label video with the clip's instance ids (later
    instances over earlier ones where masks overlap, as a label PNG stores them)."""
    labels = np.zeros(clip.masks.shape[1:], dtype=np.int64)
    for n, i in enumerate(clip.instance_ids):
        labels[clip.masks[n]] = int(i)
    return labels


def model_class_names(model, head: str | None = None) -> list[str]:
    config = model.config
    head = head or next(iter(config.num_classes))
    return list(config.class_names.get(head, []))


def evaluate_clips(
    model,
    clips: Iterable[VideoClip],
    prompts: Sequence[str] = ("mask", "box"),
    unprompted: bool = True,
    session_settings: Mapping | None = None,
    class_names: Sequence[str] | None = None,
) -> dict:
    """J&F (with baselines) per prompt kind and video AP on in-memory clips.

    ``class_names``: the clips' class names (``category_ids`` index them); the model's
    classes are matched to them by name. None: the model's own names (data the model
    was trained on)."""
    model.eval()
    jf = {p: JFWithBaselines() for p in prompts}
    ap = VideoAPEvaluator(class_agnostic=False)
    ap_agnostic = VideoAPEvaluator(class_agnostic=True)
    names = model_class_names(model, (session_settings or {}).get("class_head"))
    match = match_classes(names, list(class_names) if class_names is not None else names)
    n = 0
    for clip in clips:
        n += 1
        gt_labels = clip_labels(clip)
        frames = np.flatnonzero(clip.annotated)
        annotated = [gt_labels[t] if clip.annotated[t] else None for t in range(clip.num_frames)]
        given = first_appearances(annotated, void_label=None)
        for p in prompts:
            pred = np.stack(list(predict_prompted(model, clip.frames, given, p, session_settings)))
            jf[p].add_labels(clip.video, gt_labels, pred, frames=frames, void_label=None)
        if unprompted:
            shape = clip_shape(clip)
            gt = gt_tracks_from_clip(clip)
            tracks = observe_unprompted(model, clip.frames, session_settings)
            ap.add_video(gt, dict(enumerate(p for _, p in class_scored_tracks(tracks, match.to_dataset))), shape)
            ap_agnostic.add_video(gt, class_agnostic_tracks(tracks), shape)
    out = {"videos": n}
    for p in prompts:
        summary = jf[p].summary()
        out[f"prompted_{p}"] = summary.get("model", {})
        out[f"prompted_{p}_baselines"] = {k: v for k, v in summary.items() if k != "model"}
    if unprompted:
        out["class_match"] = match.describe()
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
    # the same on both prompt kinds: they depend on the ground truth only
    baselines = results.get("prompted_mask_baselines") or results.get("prompted_box_baselines") or {}
    for row in ("static", "empty"):
        if row in baselines:
            line[f"J&F {row} baseline"] = baselines[row]["J&F-Mean"]
    if "unprompted" in results:
        line["video AP"] = results["unprompted"]["AP"]
        line["video AP50"] = results["unprompted"]["AP50"]
        line["class-agnostic AP"] = results["unprompted_class_agnostic"]["AP"]
    return line
