"""How well a box prompt is cut down to its object on its own frame, with no network:
mean IoU with the object's ground truth, over every object's first appearance in a
DAVIS-layout folder (the box is the mask's tight box, as the evaluator's box prompts are).

  box      the rectangle itself (what was tracked before)
  grabcut  OpenCV's GrabCut initialised with the rectangle (5 iterations)
  cut      ausm.box_cut with its defaults, then each of its settings varied alone

The frames must be at the model input size, where the session cuts (the composites are:
128x96). Settings are chosen on training-split composites, then read on held-out ones:

    python bench/box_cut_choice.py --root runs/train_real/davis
    python bench/box_cut_choice.py --root runs/val_real/davis
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ausm import box_cut
from ausm_eval.io import read_rgb
from ausm_eval.metrics.davis_folder import read_label_video
from ausm_train.evaluation.inference import first_appearances, tight_box


def first_boxes(root: Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(frame RGB uint8, object mask, tight-box rectangle) for every object's first frame."""
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
    defaults = dict(
        ring=box_cut.RING,
        bins=box_cut.BINS,
        smooth=box_cut.SMOOTH,
        threshold=box_cut.THRESHOLD,
        edge_radius=box_cut.RADIUS,
    )
    rows: list[tuple[str, callable]] = [
        ("box", lambda img, r: r),
        ("grabcut", grabcut),
        ("cut " + " ".join(f"{k}={v}" for k, v in defaults.items()), cut),
    ]
    variants = dict(ring=(5,), bins=(4, 8), smooth=(1, 3), threshold=(0.5, 0.7), edge_radius=(0, 3))
    for key, values in variants.items():
        for v in values:
            rows.append((f"cut ... {key}={v}", lambda img, r, k=key, v=v: cut(img, r, **{k: v})))
    print(f"{len(items)} objects in {args.root}")
    print(f"| {'prompt-frame mask':58s} | mean IoU | ms per object |")
    print(f"|{'-' * 60}|---------:|--------------:|")
    for name, fn in rows:
        fn(*items[0][::2])  # first calls pay for imports and allocator warm-up
        t0 = time.perf_counter()
        scores = [iou(fn(img, rect), m) for img, m, rect in items]
        ms = 1000 * (time.perf_counter() - t0) / len(items)
        print(f"| {name:58s} | {np.mean(scores):8.3f} | {ms:13.1f} |")


if __name__ == "__main__":
    main()
