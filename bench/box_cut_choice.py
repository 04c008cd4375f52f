"""How well a box prompt is cut down to its object on its own frame, with no network:
mean IoU with the object's ground truth, over every object's first appearance in a
DAVIS-layout folder (the box is the mask's tight box, as the evaluator's box prompts are).

  box      the rectangle itself (what was tracked before)
  grabcut  OpenCV's GrabCut initialised with the rectangle (5 iterations)
  rule     ausm.box_cut's colour rule, then each of its settings varied alone
  learned  ausm.box_cut's learned cut (the default), at its threshold and others

The frames must be at the model input size, where the session cuts (the composites are:
128x96). Settings are chosen on training-split composites, then read on held-out ones:

    python bench/box_cut_choice.py --root runs/train_real/davis
    python bench/box_cut_choice.py --root runs/val_real/davis
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ausm import box_cut
from ausm_train.box_cut_fit import first_boxes


def grabcut(image: np.ndarray, rect: np.ndarray) -> np.ndarray:
    import cv2

    ys, xs = np.nonzero(rect)
    x, y, w, h = xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    if w < 2 or h < 2 or w * h >= rect.size:
        return rect
    mask = np.zeros(rect.shape, np.uint8)
    cv2.grabCut(
        np.ascontiguousarray(image[..., ::-1]),
        mask,
        (x, y, w, h),
        np.zeros((1, 65)),
        np.zeros((1, 65)),
        5,
        cv2.GC_INIT_WITH_RECT,
    )
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)


def cut(image: np.ndarray, rect: np.ndarray, **settings) -> np.ndarray:
    img = torch.from_numpy(image).permute(2, 0, 1).float() / 255.0
    return box_cut.cut_box(img, torch.from_numpy(rect).float(), **settings).numpy() > 0.5


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--root", required=True, help="DAVIS-layout folder (Annotations/480p, JPEGImages/480p)")
    args = ap.parse_args(argv)
    items = first_boxes(Path(args.root))
    scorer = box_cut.default_scorer()
    rule = dict(scorer=None, threshold=box_cut.THRESHOLD, edge_radius=box_cut.RADIUS)
    rows: list[tuple[str, callable]] = [
        ("box", lambda img, r: r),
        ("grabcut", grabcut),
        (f"rule threshold={box_cut.THRESHOLD} edge_radius={box_cut.RADIUS}", lambda img, r: cut(img, r, **rule)),
    ]
    for key, values in dict(threshold=(0.5, 0.7), edge_radius=(0, 3)).items():
        for v in values:
            rows.append((f"rule ... {key}={v}", lambda img, r, k=key, v=v: cut(img, r, **{**rule, k: v})))
    for t in (scorer.threshold, 0.3, 0.5):
        other = copy.deepcopy(scorer)
        other.threshold = t
        rows.append((f"learned threshold={t}", lambda img, r, s=other: cut(img, r, scorer=s)))
    print(f"{len(items)} objects in {args.root}")
    print(f"| {'prompt-frame mask':40s} | mean IoU | ms per object |")
    print(f"|{'-' * 42}|---------:|--------------:|")
    for name, fn in rows:
        fn(*items[0][::2])  # first calls pay for imports and allocator warm-up
        t0 = time.perf_counter()
        scores = [iou(fn(img, rect), m) for img, m, rect in items]
        ms = 1000 * (time.perf_counter() - t0) / len(items)
        print(f"| {name:40s} | {np.mean(scores):8.3f} | {ms:13.1f} |")


if __name__ == "__main__":
    main()
