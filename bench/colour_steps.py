"""What the session's colour steps cost, one thread, side by side in one run.

objects   K masks of 20x24, then of 50x60 pixels on a 128x96 frame (the shipped model's
          input), each with a shift of its own: plain propagation (carry_near), propagation
          after each mask's own shift (carry_following as shipped: all objects in one batch
          of crops while the crops cover at most CROPS_AT_MOST frames, else one propagation
          per shift for at most FOLLOW_AT_MOST objects; and the per-shift path alone, with
          that cap and without it), and the colour gate (colour_gate)
pooling   the window sums the colour model uses against torch's pooling, for 16 masks
session   a StreamSession on 320x240 moving shapes with the shipped checkpoint: the median
          time of its propagation, of its colour gate and of the whole step

  python bench/colour_steps.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ausm.session as session_module
from ausm.checkpoint import load_checkpoint
from ausm.colour_model import colour_gate, window_sum
from ausm.propagation import carry_following, carry_near, object_shifts
from bench.runtime_parity import moving_shapes


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times)


def objects_table(repeats: int) -> None:
    H, W = 96, 128
    gen = torch.Generator().manual_seed(0)
    prev, image = torch.rand(1, 3, H, W, generator=gen), torch.rand(1, 3, H, W, generator=gen)
    for h, w in ((20, 24), (50, 60)):
        print(f"K objects of {w}x{h} px at {W}x{H}, each with a shift of its own; median ms of {repeats}")
        print("| K | object_shifts | carry_near | carry_following | per shift, cap 4 | no cap | colour_gate |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for K in (1, 2, 4, 8, 16):
            masks = torch.zeros(K, H, W)
            for k in range(K):  # spread over the frame, overlapping a little
                y, x = (k * 13) % (H - h), (k * 29) % (W - w)
                masks[k, y : y + h, x : x + w] = 1
            shifts = object_shifts(prev, image, masks, 4)
            steps = [
                lambda m=masks: object_shifts(prev, image, m, 4),
                lambda m=masks: carry_near(m, prev, image),
                lambda m=masks, s=shifts: carry_following(m, prev, image, s),
                lambda m=masks, s=shifts: carry_following(m, prev, image, s, crops_at_most=0),
                lambda m=masks, s=shifts, k=K: carry_following(m, prev, image, s, most=k, crops_at_most=0),
                lambda m=masks: colour_gate(m, prev[0], image[0], 0.3),
            ]
            cells = [median_ms(step, repeats) for step in steps]
            print(f"| {K} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")
        print()


def pooling_table(repeats: int) -> None:
    x = torch.rand(16, 96, 128)
    masks = (x > 0.7).float()
    rows = {
        "dilation 7x7: max_pool2d": lambda: F.max_pool2d(masks[:, None], 7, 1, 3),
        "dilation 7x7: window_sum": lambda: window_sum(masks, 3) > 0.5,
        "mean 5x5: avg_pool2d": lambda: F.avg_pool2d(x[:, None], 5, 1, 2, count_include_pad=False),
        "mean 5x5: window_sum": lambda: window_sum(x, 2),
    }
    print(f"16 maps at 128x96; median ms of {repeats}")
    print("| operation | ms |")
    print("|---|---:|")
    for name, fn in rows.items():
        print(f"| {name} | {median_ms(fn, repeats):.1f} |")


def session_row(checkpoint: str, frames: int) -> None:
    timed: dict[str, list[float]] = {"propagation": [], "colour gate": []}

    def wrap(name, fn):
        def run(*args, **kwargs):
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            timed[name].append(1000 * (time.perf_counter() - t0))
            return out

        return run

    model = load_checkpoint(checkpoint).eval()
    session = session_module.StreamSession(model)
    original = session_module.carry_following
    session_module.carry_following = wrap("propagation", original)
    session._colour_gated = wrap("colour gate", session._colour_gated)
    steps, tracks = [], []
    try:
        with torch.inference_mode():
            for t in range(frames):
                frame = moving_shapes(t, (240, 320))
                t0 = time.perf_counter()
                result = session.step(frame)
                steps.append(1000 * (time.perf_counter() - t0))
                tracks.append(len(result))
    finally:
        session_module.carry_following = original
    print(f"\nStreamSession.step on {frames} frames of 320x240 moving shapes ({checkpoint})")
    print(f"tracks (median): {statistics.median(tracks):.0f}")
    for name, times in timed.items():
        print(f"{name}: {statistics.median(times):.1f} ms median")
    print(f"whole step: {statistics.median(steps):.1f} ms median")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--checkpoint", default="ausm/checkpoints/demo_tiny.safetensors")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    objects_table(args.repeats)
    pooling_table(args.repeats)
    session_row(args.checkpoint, args.frames)


if __name__ == "__main__":
    main()
