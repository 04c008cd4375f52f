"""Fits the learned box cut (``ausm.box_cut.BoxCutScorer``) on the first appearances of
objects in a DAVIS-layout folder of training-split composites: each object's tight box is
the prompt, its mask the answer, every pixel of the box one example.

    python -m ausm_train.realdata --out runs/train_cutfit --split train --videos 300 \\
        --frames 8 --seed 779 --format davis
    python -m ausm_train.box_cut_fit --root runs/train_cutfit/davis

Every box weighs the same whatever its size (the score is mean IoU over objects), so a
pixel weighs one over its box's area. Minibatches of pixels drawn from all boxes, Adam,
binary cross-entropy; a few minutes on one CPU core.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tqdm import tqdm

from ausm.box_cut import SCORER_PATH, BoxCutScorer, cut_features
from ausm.colour_model import MIN_AROUND, RING, surroundings
from ausm_eval.io import read_rgb
from ausm_eval.metrics.davis_folder import read_label_video
from ausm_train.evaluation.inference import first_appearances, tight_box


def first_boxes(root: Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(frame RGB uint8, object mask, its tight box as a filled rectangle) for every object's
    first frame in a DAVIS-layout folder (the evaluator's box prompts are these boxes)."""
    out = []
    for seq in sorted(p.name for p in (root / "Annotations/480p").iterdir()):
        labels = read_label_video(sorted((root / "Annotations/480p" / seq).glob("*.png")))
        frames = sorted((root / "JPEGImages/480p" / seq).glob("*.jpg"))
        for t, objects in first_appearances(labels).items():
            for _, m in objects:
                x1, y1, x2, y2 = map(int, tight_box(m))
                rect = np.zeros_like(m)
                rect[y1:y2, x1:x2] = True
                out.append((read_rgb(frames[t]), m, rect))
    return out


def examples(items, progress: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Features [N, F], answers [N] and box index [N] of every pixel of every box with a ring."""
    xs, ys, bs = [], [], []
    for image, mask, rect in tqdm(items, desc="box features", unit="box", disable=not progress):
        img = torch.from_numpy(image).permute(2, 0, 1).float() / 255.0
        inside = torch.from_numpy(rect)[None]
        around = surroundings(inside, RING)
        if around.sum() < MIN_AROUND:
            continue  # the cut keeps such a box whole: nothing to learn
        sel = inside[0]
        xs.append(cut_features(img, inside, around)[0][sel])
        ys.append(torch.from_numpy(mask)[sel].float())
        bs.append(torch.full((int(sel.sum()),), len(bs)))
    return torch.cat(xs), torch.cat(ys), torch.cat(bs)


def fit(x, y, box, hidden=16, steps=600, batch=200_000, lr=3e-3, seed=0, threshold=0.4, progress=True):
    torch.manual_seed(seed)
    scorer = BoxCutScorer(hidden, threshold)
    scorer.mean.copy_(x.mean(0))
    scorer.std.copy_(x.std(0) + 1e-6)
    weight = 1.0 / torch.bincount(box).float()[box]
    opt = torch.optim.Adam(scorer.parameters(), lr)
    bar = tqdm(range(steps), desc="fit", unit="step", disable=not progress)
    for _ in bar:
        idx = torch.randint(0, len(y), (batch,))
        w = weight[idx]
        loss = (F.binary_cross_entropy_with_logits(scorer(x[idx]), y[idx], reduction="none") * w).sum() / w.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    return scorer.eval()


def save(scorer: BoxCutScorer, path: Path, root: Path) -> Path:
    meta = {"hidden": json.dumps(scorer.net[0].out_features), "threshold": json.dumps(scorer.threshold)}
    meta["trained_on"] = str(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.contiguous() for k, v in scorer.state_dict().items()}, str(tmp), metadata=meta)
    os.replace(tmp, path)  # a reader never sees a half-written file
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, required=True, help="DAVIS-layout folder of training-split composites")
    ap.add_argument("--out", type=Path, default=SCORER_PATH)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--threshold", type=float, default=0.4, help="P(object) a pixel needs (chosen on training data)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    items = first_boxes(a.root)
    if not items:
        raise SystemExit(f"no annotated objects under {a.root}/Annotations/480p")
    x, y, box = examples(items, not a.no_progress)
    print(f"{int(box.max()) + 1} boxes, {len(y)} pixels, {y.mean():.2f} of them object")
    scorer = fit(x, y, box, a.hidden, a.steps, seed=a.seed, threshold=a.threshold, progress=not a.no_progress)
    print(f"wrote {save(scorer, a.out, a.root)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
