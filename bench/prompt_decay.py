"""How long a prompted object is kept: mean IoU of each object's predicted mask with its
ground truth, by frames since the object was given (its first appearance), for one or more
prediction folders beside the static baseline (the given mask copied forward).

    python bench/prompt_decay.py --root runs/val_real/davis --pred model=PRED/mask \
        [--pred other=DIR ...] [--out docs/prompt_decay.png]

J&F averages over whole videos; this shows where a tracker loses its object (at once, or
drifting away over many frames). Frames where the object is not visible count only when a
prediction claims it (IoU 0) or correctly leaves it out (IoU 1), as J does. Reads DAVIS-layout
palette PNGs: ROOT/Annotations/480p/<video>/*.png and PRED/<video>/<same name>.png.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ausm_eval.io import list_frames, read_label_png


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def decay_curves(gt_root: Path, preds: dict[str, Path], horizon: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(name -> mean IoU at 1..horizon frames after the prompt, "static" included; objects per frame)."""
    sums = {name: np.zeros(horizon) for name in (*preds, "static")}
    counts = np.zeros(horizon)
    for video in sorted(p for p in gt_root.iterdir() if p.is_dir()):
        frames = list_frames(video, (".png",))
        gt = np.stack([read_label_png(f) for f in frames])
        out = {
            name: np.stack([read_label_png(root / video.name / f.name) for f in frames]) for name, root in preds.items()
        }
        for obj in sorted(set(np.unique(gt)) - {0, 255}):
            first = int(np.flatnonzero((gt == obj).any(axis=(1, 2)))[0])
            given = gt[first] == obj
            for t in range(first + 1, min(first + 1 + horizon, len(frames))):
                k = t - first - 1
                target = gt[t] == obj
                counts[k] += 1
                sums["static"][k] += iou(given, target)
                for name, labels in out.items():
                    sums[name][k] += iou(labels[t] == obj, target)
    with np.errstate(invalid="ignore"):
        return {name: s / counts for name, s in sums.items()}, counts


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, type=Path, help="DAVIS-layout folder with Annotations/<resolution>")
    p.add_argument("--resolution", default="480p")
    p.add_argument("--pred", action="append", required=True, help="NAME=DIR, repeatable")
    p.add_argument("--horizon", type=int, default=20, help="frames after the prompt")
    p.add_argument("--out", type=Path, help="PNG plot")
    args = p.parse_args(argv)
    preds = {}
    for item in args.pred:
        name, sep, path = item.partition("=")
        if not sep:
            p.error(f"--pred must be NAME=DIR, got {item!r}")
        preds[name] = Path(path)
    curves, counts = decay_curves(args.root / "Annotations" / args.resolution, preds, args.horizon)
    print("frames after prompt  " + "  ".join(f"{name:>10}" for name in curves) + "  objects")
    for k in range(args.horizon):
        if counts[k]:
            print(f"{k + 1:19d}  " + "  ".join(f"{c[k]:10.3f}" for c in curves.values()) + f"  {int(counts[k]):7d}")
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.6), dpi=120)
        x = np.arange(1, args.horizon + 1)
        for name, c in curves.items():
            ax.plot(x, c, marker="o", ms=3, ls="--" if name == "static" else "-", label=name)
        ax.set_xlabel("frames after the prompt")
        ax.set_ylabel("mean IoU with ground truth")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.out)
        print(f"plot: {args.out}")


if __name__ == "__main__":
    main()
