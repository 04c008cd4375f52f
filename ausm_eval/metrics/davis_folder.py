"""J&F of prediction PNGs against a DAVIS-layout annotation folder, read the way the
benchmark reads them, with the static and empty baselines on the same frames.

  ANNOTATIONS/<sequence>/<frame>.png   ground truth, palette index = object id
  PREDICTIONS/<sequence>/<frame>.png   one label per pixel, same frame names

The frames of a sequence are its ground-truth PNGs in name order; every one of
them needs a prediction of the same size (extra prediction files are ignored, as
vos-benchmark does with sparse annotations).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from ..errors import CorruptSampleError, DatasetFormatError
from ..io import read_label_png
from .baselines import JFWithBaselines
from .davis import VOID_LABEL


def read_label_video(paths: Sequence[Path]) -> np.ndarray:
    """int32 [T, H, W] from label PNGs that must share one size."""
    frames = []
    for path in paths:
        try:
            labels = read_label_png(path)
        except CorruptSampleError as error:
            raise DatasetFormatError(str(error)) from error
        if frames and labels.shape != frames[0].shape:
            raise DatasetFormatError(
                f"{path} is {labels.shape[1]}x{labels.shape[0]}, the sequence's first "
                f"annotation {frames[0].shape[1]}x{frames[0].shape[0]}"
            )
        frames.append(labels.astype(np.int32))
    return np.stack(frames)


def sequence_annotations(annotation_dir: Path, sequence: str) -> list[Path]:
    paths = sorted((annotation_dir / sequence).glob("*.png"))
    if not paths:
        raise DatasetFormatError(f"no annotation PNGs in {annotation_dir / sequence}")
    return paths


def score_davis_folder(
    annotation_dir: str | os.PathLike,
    prediction_dir: str | os.PathLike,
    sequences: Sequence[str] | None = None,
    void_label: int | None = VOID_LABEL,
    progress: bool = False,
) -> JFWithBaselines:
    """Score every sequence (default: every sub-folder of ``annotation_dir``) and
    return the accumulator: ``.summary()`` (model, static, empty) and ``.per_video``."""
    annotation_dir, prediction_dir = Path(annotation_dir), Path(prediction_dir)
    if not annotation_dir.is_dir():
        raise DatasetFormatError(f"annotation folder {annotation_dir} not found")
    if sequences is None:
        sequences = sorted(p.name for p in annotation_dir.iterdir() if p.is_dir())
    scores = JFWithBaselines()
    for sequence in tqdm(sequences, desc="J&F", unit="video", disable=not progress):
        gt_paths = sequence_annotations(annotation_dir, sequence)
        pred_paths = [prediction_dir / sequence / p.name for p in gt_paths]
        missing = [str(p) for p in pred_paths if not p.is_file()]
        if missing:
            raise DatasetFormatError(
                f"{len(missing)} predictions of sequence {sequence} are missing, e.g. {missing[0]}"
            )
        gt = read_label_video(gt_paths)
        pred = read_label_video(pred_paths)
        if pred.shape != gt.shape:
            raise DatasetFormatError(
                f"predictions of {sequence} are {pred.shape[2]}x{pred.shape[1]}, "
                f"its annotations {gt.shape[2]}x{gt.shape[1]}"
            )
        scores.add_labels(sequence, gt, pred, void_label=void_label)
    return scores
