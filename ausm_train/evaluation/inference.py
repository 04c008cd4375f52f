"""Running a model over a video the way a robot does (``ausm.session.StreamSession``,
one frame at a time), for the two evaluation tasks.

  prompted    (semi-supervised VOS): each object is given on the first frame it
              appears in, by its mask (or its box); discovery off. The output is a
              label video, one label per pixel, overlaps to the higher objectness
              (``FrameResult.label_image``). On the frame where an object is given
              by its mask, that mask is the output for it, as semi-supervised
              methods report (the DAVIS first frame is skipped by the benchmark
              anyway; for objects entering later this is what the static baseline
              gets too).
  unprompted  (video instance segmentation): no prompts, discovery on; every track
              is recorded with its per-frame mask, objectness and class
              probabilities (``ObservedTrack``) for class-scored video AP.
"""

from __future__ import annotations

import os
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch

from ausm.session import StreamSession
from ausm_eval.metrics import ObservedTrack

PROMPT_KINDS = ("mask", "box")


def as_model(model_or_checkpoint):
    """A model, or the path of a checkpoint to load one from (on the CPU)."""
    if isinstance(model_or_checkpoint, (str, os.PathLike)):
        from ausm.checkpoint import load_checkpoint

        return load_checkpoint(model_or_checkpoint)
    return model_or_checkpoint


def tight_box(mask: np.ndarray) -> list[float]:
    """x1, y1, x2, y2 (x2, y2 exclusive) of a non-empty mask."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return [float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)]


def first_appearances(
    labels: np.ndarray | Sequence[np.ndarray | None], void_label: int | None = 255
) -> dict[int, list[tuple[int, np.ndarray]]]:
    """frame -> [(object id, mask)] for each object on the first frame it appears in.

    ``labels``: per frame an [H, W] label image, or None for a frame without
    annotation (its objects are looked for on the next annotated frame)."""
    prompts: dict[int, list[tuple[int, np.ndarray]]] = {}
    seen: set[int] = set()
    for t, frame in enumerate(labels):
        if frame is None:
            continue
        frame = np.asarray(frame)
        for i in np.unique(frame):
            i = int(i)
            if i == 0 or i == void_label or i in seen:
                continue
            seen.add(i)
            prompts.setdefault(t, []).append((i, frame == i))
    return prompts


@torch.inference_mode()
def predict_prompted(
    model,
    frames: Iterable[np.ndarray],
    prompts: Mapping[int, Sequence[tuple[int, np.ndarray]]],
    prompt: str = "mask",
    session_settings: Mapping | None = None,
) -> Iterable[np.ndarray]:
    """Yield one int32 [H, W] label image per frame: the prompted objects, ids as given.

    ``prompts``: frame index -> [(object id, bool mask)], e.g. ``first_appearances``."""
    if prompt not in PROMPT_KINDS:
        raise ValueError(f"prompt must be one of {PROMPT_KINDS}, got {prompt!r}")
    settings = dict(session_settings or {})
    settings.update(discovery=False, release_after_frames=10**6)  # a prompted object is never dropped
    session = StreamSession(model, **settings)
    for t, frame in enumerate(frames):
        given = prompts.get(t, ())
        for object_id, mask in given:
            if not mask.any():
                continue
            session.add_object(
                mask=mask if prompt == "mask" else None,
                box=tight_box(mask) if prompt == "box" else None,
                track_id=int(object_id),
                image_size=mask.shape,
            )
        labels = session.step(frame).label_image(np.int32)
        if prompt == "mask":
            # the given mask replaces the model's own output for that object on this frame
            for object_id, mask in given:
                labels[labels == int(object_id)] = 0
                labels[mask] = int(object_id)
        yield labels


@torch.inference_mode()
def observe_unprompted(
    model, frames: Iterable[np.ndarray], session_settings: Mapping | None = None
) -> dict[int, ObservedTrack]:
    """Track id -> ObservedTrack over the whole video, discovery on, no prompts."""
    settings = dict(session_settings or {})
    settings["discovery"] = True
    session = StreamSession(model, **settings)
    tracks: dict[int, ObservedTrack] = {}
    for t, frame in enumerate(frames):
        result = session.step(frame)
        probs = result.class_probs
        for k, tid in enumerate(result.track_ids):
            tracks.setdefault(int(tid), ObservedTrack()).add(t, result.masks[k], float(result.scores[k]), probs[k])
    return tracks
