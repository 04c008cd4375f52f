"""YouTube-VOS (and MOSE-style) overall score: G = mean(J_seen, F_seen,
J_unseen, F_unseen).

The official score comes from a closed evaluation server; this follows its
published definition with these choices, written down because the server
code is not public:
- an object is scored on the annotated frames after the frame where it first
  appears in the ground truth (that frame is the prompt);
- J and F per frame are the DAVIS measures (``jaccard``, ``boundary_f``);
- an object's J (F) is the mean over its scored frames; J_seen is the mean over
  objects of seen categories, J_unseen over the others;
- G averages the groups that have objects (all four on a real split), so a
  split with only seen objects still gets a score; ``num_unseen`` says which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from .masks import MaskSequence, as_mask_sequence
from .region_boundary import DAVIS_BOUND_TH, boundary_f, jaccard


@dataclass
class YouTubeVOSEvaluator:
    bound_th: float = DAVIS_BOUND_TH
    objects: list[tuple[bool, float, float]] = field(default_factory=list)  # (seen, J, F)

    def add_video(
        self,
        gt: Mapping[int, MaskSequence],
        pred: Mapping[int, MaskSequence],
        seen: Mapping[int, bool] | bool = True,
        annotated: Sequence[bool] | None = None,
        shape: tuple[int, int, int] | None = None,
    ) -> dict[int, tuple[float, float]]:
        """Score one video. ``annotated`` marks the frames that have ground
        truth (every 5th frame on YouTube-VOS valid); default all. Returns
        object id -> (J, F); objects that never appear are skipped."""
        if shape is None:
            arrays = [m for m in gt.values() if isinstance(m, np.ndarray) and m.ndim == 3]
            if not arrays:
                raise ValueError("pass shape when no ground truth is a [T, H, W] array")
            shape = arrays[0].shape
        t, h, w = shape
        annotated_mask = np.ones(t, dtype=bool) if annotated is None else np.asarray(annotated, dtype=bool)
        out = {}
        for object_id, masks in gt.items():
            g = as_mask_sequence(masks, t, h, w)
            visible = np.flatnonzero(annotated_mask & g.reshape(t, -1).any(axis=1))
            if visible.size == 0:
                continue
            frames = np.flatnonzero(annotated_mask & (np.arange(t) > visible[0]))
            if frames.size == 0:
                continue
            p = as_mask_sequence(pred[object_id], t, h, w) if object_id in pred else np.zeros_like(g)
            j = float(np.mean(jaccard(g[frames], p[frames])))
            f = float(np.mean(boundary_f(g[frames], p[frames], self.bound_th)))
            is_seen = seen if isinstance(seen, bool) else bool(seen.get(object_id, True))
            self.objects.append((is_seen, j, f))
            out[int(object_id)] = (j, f)
        return out

    def summary(self) -> dict[str, float]:
        out: dict[str, float] = {}
        groups = []
        for label, flag in (("seen", True), ("unseen", False)):
            rows = [(j, f) for s, j, f in self.objects if s == flag]
            out[f"num_{label}"] = float(len(rows))
            if rows:
                jm, fm = np.mean(rows, axis=0)
                out[f"J_{label}"], out[f"F_{label}"] = float(jm), float(fm)
                groups += [float(jm), float(fm)]
            else:
                out[f"J_{label}"] = out[f"F_{label}"] = float("nan")
        out["overall"] = float(np.mean(groups)) if groups else float("nan")
        return out
