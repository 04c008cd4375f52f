"""Why history is propagated by colour, at the model input resolution: trackers with no
network at all, scored as DAVIS 2017 semi-supervised on a DAVIS-layout folder.

  static            each object's first-appearance mask copied forward (the baseline)
  grid oracle       the ground truth of every frame through the model's 1/4 mask grid
                    (area-pooled, upsampled, > 0.5): the best a 1/4 output can score
  colour, 1/4 grid  the first-appearance mask carried frame to frame by ausm.propagation,
                    stored on the 1/4 grid between frames (as history was before)
  colour, full      the same chain kept at the frame's resolution (as the session does now)
  ... + colour gate each carried mask kept to the pixels coloured more like its object than
                    like its surroundings on the frame before (ausm.colour_model, as the
                    session's ``history_colour_gate``)
  ... + moved first each mask first moved by its own best translation, looked for around
                    its last one (object_shifts, carry_following, as the session's
                    ``history_search``)

plus the same full-resolution chain at other radii and temperatures. The frames must be
at the model input size (the held-out composites are: 128x96).

    python -m ausm_train.realdata --out runs/val_real --split val --videos 40 --frames 24
    python bench/propagation_choice.py --root runs/val_real/davis
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ausm.colour_model import colour_gate
from ausm.propagation import RADIUS, TEMPERATURE, affinities, carry, carry_following, object_shifts
from ausm_eval.io import read_rgb
from ausm_eval.metrics.davis import SEMI_SUPERVISED, DavisEvaluator, static_baseline
from ausm_eval.metrics.davis_folder import read_label_video, sequence_annotations


def labels_from(masks: torch.Tensor, ids: list[int]) -> np.ndarray:
    """[K, H, W] soft masks -> int32 label image (> 0.5, the strongest wins)."""
    out = np.zeros(masks.shape[-2:], np.int32)
    if not ids:
        return out
    best = masks.max(0)
    keep = (best.values > 0.5).numpy()
    out[keep] = np.asarray(ids)[best.indices.numpy()][keep]
    return out


def colour_chain(
    gt: np.ndarray,
    frames: list[torch.Tensor],
    radius: int,
    temperature: float,
    grid: bool,
    gate: float = 0.0,
    search: int = 0,
) -> np.ndarray:
    """Each object from its first-appearance mask, carried to every later frame."""
    T, H, W = gt.shape
    ids: list[int] = []
    motion: list[tuple[int, int]] = []  # each object's last shift, where its next is looked for
    masks = torch.zeros(0, H // 4, W // 4) if grid else torch.zeros(0, H, W)
    pred = np.zeros_like(gt)
    for t in range(T):
        if t and len(ids):
            full = (
                F.interpolate(masks[None], size=(H, W), mode="bilinear", align_corners=False) if grid else masks[None]
            )
            if search:
                motion = object_shifts(frames[t - 1], frames[t], full[0], search, motion)
                moved = carry_following(full[0], frames[t - 1], frames[t], motion, radius)[None]
            else:
                moved = carry(full, affinities(frames[t - 1], frames[t], radius, temperature))
            if gate > 0:
                moved = moved * colour_gate(masks, frames[t - 1][0], frames[t][0], gate)[None]
            masks = (F.interpolate(moved, size=(H // 4, W // 4), mode="area") if grid else moved)[0]
        new = [int(i) for i in np.unique(gt[t]) if i not in (0, 255) and int(i) not in ids]
        for i in new:
            m = torch.from_numpy(gt[t] == i).float()[None, None]
            masks = torch.cat([masks, F.interpolate(m, size=masks.shape[-2:], mode="area")[0]])
            ids.append(i)
            motion.append((0, 0))
        if ids:
            full = F.interpolate(masks[None], size=(H, W), mode="bilinear", align_corners=False)[0] if grid else masks
            pred[t] = labels_from(full, ids)
        for i in new:  # the prompt frame: the given mask, as semi-supervised methods report
            pred[t][gt[t] == i] = i
    return pred


def grid_oracle(gt: np.ndarray) -> np.ndarray:
    T, H, W = gt.shape
    pred = np.zeros_like(gt)
    for t in range(T):
        ids = [int(i) for i in np.unique(gt[t]) if i not in (0, 255)]
        if ids:
            m = torch.from_numpy(np.stack([gt[t] == i for i in ids])).float()[None]
            up = F.interpolate(F.interpolate(m, size=(H // 4, W // 4), mode="area"), size=(H, W), mode="bilinear")
            pred[t] = labels_from(up[0], ids)
    return pred


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--root", required=True, help="DAVIS-layout folder (Annotations/480p, JPEGImages/480p)")
    ap.add_argument("--radii", default="3,5,7", help="radii of the full-resolution chain")
    ap.add_argument("--temperatures", default="0.001,0.005", help="other temperatures at the default radius")
    ap.add_argument("--gates", default="0.2,0.3,0.4", help="colour gates on the default full-resolution chain")
    ap.add_argument("--search", type=int, default=4, help="the last row's object_shifts search (px)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    root = Path(args.root)
    annotations, images = root / "Annotations" / "480p", root / "JPEGImages" / "480p"
    videos = sorted(p.name for p in annotations.iterdir() if p.is_dir())
    data = []
    for v in videos:
        gt = read_label_video(sequence_annotations(annotations, v))
        frames = [
            torch.from_numpy(read_rgb(p)).permute(2, 0, 1)[None].float() / 255
            for p in sorted((images / v).glob("*.jpg"))
        ]
        data.append((v, gt, frames))

    chain = lambda r, temp, grid, gate=0.0, search=0: lambda gt, fr: colour_chain(gt, fr, r, temp, grid, gate, search)
    rows = {"static": lambda gt, fr: static_baseline(gt), "grid oracle": lambda gt, fr: grid_oracle(gt)}
    rows[f"colour, 1/4 grid (r={RADIUS}, T={TEMPERATURE})"] = chain(RADIUS, TEMPERATURE, True)
    for r in (int(x) for x in args.radii.split(",")):
        rows[f"colour, full (r={r}, T={TEMPERATURE})"] = chain(r, TEMPERATURE, False)
    for temp in (float(x) for x in args.temperatures.split(",")):
        rows[f"colour, full (r={RADIUS}, T={temp})"] = chain(RADIUS, temp, False)
    for gate in (float(x) for x in args.gates.split(",")):
        rows[f"colour, full (r={RADIUS}, T={TEMPERATURE}) + colour gate {gate}"] = chain(
            RADIUS, TEMPERATURE, False, gate
        )
    rows[f"... + colour gate 0.3 + each mask moved first (search {args.search})"] = chain(
        RADIUS, TEMPERATURE, False, 0.3, args.search
    )

    H, W = data[0][1].shape[1:]
    print(f"{len(data)} videos of {root}, {W}x{H}; J&F as DAVIS 2017 semi-supervised, in %")
    print("| tracker (no network) | J&F | J | F | s |")
    print("|---|---:|---:|---:|---:|")
    for name, predict in rows.items():
        start = time.perf_counter()
        ev = DavisEvaluator(task=SEMI_SUPERVISED)
        for v, gt, frames in data:
            ev.add_labels(v, gt, predict(gt, frames))
        s = {k: 100 * ev.summary()[k] for k in ("J&F-Mean", "J-Mean", "F-Mean")}
        took = time.perf_counter() - start
        cells = " | ".join(f"{v:.1f}" for v in s.values())
        print(f"| {name} | {cells} | {took:.0f} |", flush=True)


if __name__ == "__main__":
    main()
