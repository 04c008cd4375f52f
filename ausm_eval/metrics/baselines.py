"""J&F beside its trivial baselines, on the same videos and the same frames.

  static  each object's first-appearance mask (the prompt) copied to every later frame:
          what "tracking" scores when nothing moves;
  empty   no object anywhere.

A J&F that does not beat both says nothing about tracking, so every J&F table this
project prints carries these two rows.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from .davis import SEMI_SUPERVISED, VOID_LABEL, DavisEvaluator, static_baseline
from .region_boundary import DAVIS_BOUND_TH

ROWS = ("model", "static", "empty")
ROW_TITLES = {"model": "model", "static": "static baseline", "empty": "empty baseline"}


def _video_jf(scores) -> float:
    if not scores:
        return float("nan")
    return float(np.mean([(np.mean(s.j) + np.mean(s.f)) / 2 for s in scores.values()]))


class JFWithBaselines:
    """Accumulate label videos; ``summary()`` gives the DAVIS summary of the model and
    of both baselines, ``per_video`` each video's J&F (mean over its objects)."""

    def __init__(self, bound_th: float = DAVIS_BOUND_TH, skip_first_last: bool = True):
        self.evaluators = {
            row: DavisEvaluator(task=SEMI_SUPERVISED, bound_th=bound_th, skip_first_last=skip_first_last)
            for row in ROWS
        }
        self.per_video: dict[str, dict[str, float]] = {}

    def add_labels(
        self,
        video: str,
        gt_labels: np.ndarray,
        pred_labels: np.ndarray | None,
        frames: Sequence[int] | None = None,
        void_label: int | None = VOID_LABEL,
    ) -> dict[str, float]:
        """Score one video: the model's label video (None: baselines only) and both
        baselines built from ``gt_labels``. Returns row -> this video's J&F."""
        gt = np.asarray(gt_labels)
        candidates = {"static": static_baseline(gt, frames, void_label), "empty": np.zeros_like(gt)}
        if pred_labels is not None:
            candidates["model"] = pred_labels
        line = {}
        for row, labels in candidates.items():
            line[row] = _video_jf(self.evaluators[row].add_labels(video, gt, labels, frames, void_label))
        self.per_video[video] = line
        return line

    def summary(self) -> dict[str, dict[str, float]]:
        """row -> DAVIS summary (J&F-Mean, J-Mean, ...); the model row only when given."""
        return {row: ev.summary() for row, ev in self.evaluators.items() if ev.per_object}


def _pct(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100 * value:.1f}"


def format_jf_table(
    summary: Mapping[str, Mapping[str, float]],
    per_video: Mapping[str, Mapping[str, float]] | None = None,
    title: str | None = None,
) -> str:
    """A plain-text table: one line per row of ``summary`` (model, static, empty),
    J&F, J, F, recalls and decays in %, then optionally J&F per video."""
    columns = (
        ("J&F", "J&F-Mean"),
        ("J", "J-Mean"),
        ("J-rec", "J-Recall"),
        ("J-decay", "J-Decay"),
        ("F", "F-Mean"),
        ("F-rec", "F-Recall"),
        ("F-decay", "F-Decay"),
    )
    rows = [r for r in ROWS if r in summary] + [r for r in summary if r not in ROWS]
    header = ["", *[c for c, _ in columns], "objects"]
    body = [
        [
            ROW_TITLES.get(r, r),
            *[_pct(summary[r].get(k)) for _, k in columns],
            str(int(summary[r].get("num_objects", 0))),
        ]
        for r in rows
    ]
    widths = [max(len(header[i]), *(len(b[i]) for b in body)) if body else len(header[i]) for i in range(len(header))]

    def line(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = ([title] if title else []) + [line(header)] + [line(b) for b in body]
    if per_video:
        names = [r for r in ROWS if any(r in v for v in per_video.values())]
        width = max(len("video"), *(len(v) for v in per_video))
        out.append("")
        out.append("  ".join(["video".ljust(width)] + [f"{ROW_TITLES[r]:>15}" for r in names]))
        for video, line_scores in per_video.items():
            out.append("  ".join([video.ljust(width)] + [f"{_pct(line_scores.get(r)):>15}" for r in names]))
    out.append("J&F as DAVIS 2017 semi-supervised (one label per pixel, first and last frame skipped), in %")
    return "\n".join(out)
