"""Prompted evaluation on any folder in the DAVIS 2017 layout:

    ROOT/JPEGImages/<resolution>/<sequence>/<frame>.jpg
    ROOT/Annotations/<resolution>/<sequence>/<frame>.png     palette PNG, index = object id
    ROOT/ImageSets/<year>/<split>.txt                          one sequence a line

Each object is prompted on the first annotated frame it appears in (the first frame
for DAVIS itself; later for objects entering mid-video). Predictions are written as
palette PNGs, ``OUT/<sequence>/<frame>.png`` for every frame, the layout DAVIS
evaluators read, then scored from those files (``score_davis_folder``) beside the
static and empty baselines.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from tqdm import tqdm

from ausm_eval.errors import DatasetFormatError
from ausm_eval.io import read_label_png, write_palette_png
from ausm_eval.metrics import format_jf_table, score_davis_folder
from ausm_train.data.davis import VOID_LABEL, DavisSource

from .inference import as_model, first_appearances, predict_prompted


def _annotation_labels(source: DavisSource, sequence: str, stems: Sequence[str]) -> list[np.ndarray | None]:
    """Label images of a sequence's frames as stored (void kept), None where not annotated."""
    out = []
    for stem in stems:
        path = source.annotation_dir / sequence / f"{stem}.png"
        out.append(read_label_png(path).astype(np.int32) if path.is_file() else None)
    return out


def evaluate_davis(
    model,
    root: str | os.PathLike,
    out: str | os.PathLike,
    split: str = "val",
    resolution: str = "480p",
    year: str = "2017",
    prompt: str = "mask",
    sequences: Sequence[str] | None = None,
    session_settings: Mapping | None = None,
    progress: bool = True,
) -> dict:
    """Run ``model`` (or the checkpoint at that path) prompted on every sequence of the
    split, write the PNGs to ``out`` and score them. Returns {"summary": row -> DAVIS
    summary (model, static, empty), "per_video": video -> row -> J&F, "sequences",
    "predictions", "prompt", "table"}."""
    root, out = Path(root), Path(out)
    for sub in (Path("JPEGImages") / resolution, Path("Annotations") / resolution):
        if not (root / sub).is_dir():
            raise DatasetFormatError(f"{root} is not a DAVIS folder: {root / sub} is missing")
    source = DavisSource(root, split=split, resolution=resolution, year=year, sequences=sequences)
    model = as_model(model)
    model.eval()
    for index in tqdm(range(len(source)), desc=f"{prompt}-prompted", unit="video", disable=not progress):
        sequence = source.video_name(index)
        clip = source.load(index)
        labels = _annotation_labels(source, sequence, clip.frame_names)
        if all(lab is None for lab in labels):
            raise DatasetFormatError(
                f"sequence {sequence} has no annotation PNG in {source.annotation_dir / sequence} for any of its frames"
            )
        shapes = {lab.shape for lab in labels if lab is not None}
        if shapes != {clip.frames.shape[1:3]}:
            raise DatasetFormatError(
                f"sequence {sequence}: annotations of size {sorted(shapes)} for frames of "
                f"{clip.frames.shape[2]}x{clip.frames.shape[1]}"
            )
        prompts = first_appearances(labels, VOID_LABEL)
        predicted = predict_prompted(model, clip.frames, prompts, prompt, session_settings)
        for stem, frame_labels in zip(clip.frame_names, predicted):
            write_palette_png(out / sequence / f"{stem}.png", frame_labels)
    scores = score_davis_folder(source.annotation_dir, out, source.sequences, progress=progress)
    summary = scores.summary()
    title = f"J&F on {len(source)} videos of {root} ({split}), {prompt} prompts; predictions in {out}"
    return {
        "summary": summary,
        "per_video": scores.per_video,
        "sequences": len(source),
        "predictions": str(out),
        "prompt": prompt,
        "table": format_jf_table(summary, scores.per_video, title),
    }
