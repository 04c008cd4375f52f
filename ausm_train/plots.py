"""Loss curves of a training run (and of the backbone distillation before it) as a PNG.

    python -m ausm_train.plots --run runs/demo_v3 --distill runs/distill --out docs/loss_curves.png

Reads ``train_log.csv`` (written by the trainer every ``log_every`` steps) and
``loss.json`` (written by ``ausm_train.realdata.distill``).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

TERMS = ("loss", "objectness", "class", "mask", "dice")


def read_train_log(path: Path) -> dict[str, np.ndarray]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path} has no logged steps yet")
    return {k: np.array([float(r[k]) for r in rows]) for k in ("step", *TERMS) if k in rows[0]}


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    window = max(1, min(window, len(values)))
    return np.convolve(values, np.ones(window) / window, mode="valid")


def plot(run: Path, distill: Path | None, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display on a robot or in CI
    import matplotlib.pyplot as plt

    log = read_train_log(run / "train_log.csv")
    panels = 2 if distill else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    ax = axes[0, 0]
    for term in TERMS:
        if term in log:
            y = smooth(log[term], 10)
            ax.plot(log["step"][len(log["step"]) - len(y) :], y, label=term, lw=1.5 if term == "loss" else 1)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title(f"AUSM training ({run.name}), moving mean of 10 logs")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    if distill:
        losses = np.array(json.loads((distill / "loss.json").read_text()))
        ax = axes[0, 1]
        ax.plot(np.arange(1, len(losses) + 1), losses, alpha=0.3, label="per step")
        ax.plot(np.arange(len(smooth(losses, 25))) + 25, smooth(losses, 25), label="moving mean of 25")
        ax.axhline(3.0, ls="--", c="grey", label="predicting the mean (3 maps)")
        ax.set_xlabel("step")
        ax.set_title("tiny backbone distilled from VGG16 (HED)")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp" + out.suffix)
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(out)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, required=True, help="training output folder (train_log.csv)")
    p.add_argument("--distill", type=Path, help="distillation output folder (loss.json)")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    print(plot(a.run, a.distill, a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
