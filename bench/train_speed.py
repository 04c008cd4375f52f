"""Training speed, parallel (teacher forcing, one pass over all frames) vs iterative
(the same model, history and losses, run frame by frame through the streaming path).

    python bench/train_speed.py [--model tiny] [--size 128x128] [--batch 1]
                                [--lengths 1 2 4 8 16 32] [--iters 3] [--threads 2] [--device cpu]

One iteration = zero_grad, forward, Mask2Former losses, backward, AdamW step, the
same work for both modes; the time is the median over ``--iters`` after one warm-up.
Paper (Swin-B, 16 frames, GPU): 3.45 s/iter parallel vs 8.75 s/iter iterative, 2.5x.
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from ausm import build_model  # noqa: E402
from ausm.config import parse_size  # noqa: E402
from ausm_train.synthetic import SyntheticConfig, generate_video  # noqa: E402
from ausm_train.train.config import LossConfig, TeacherForcingConfig  # noqa: E402
from ausm_train.train.iterative import forward_iterative  # noqa: E402
from ausm_train.train.losses import SetCriterion  # noqa: E402
from ausm_train.train.teacher_forcing import teacher_force  # noqa: E402


def clips_of(length, batch, hw, seed=0):
    cfg = SyntheticConfig(height=hw[0], width=hw[1], num_frames=length, min_objects=2, max_objects=4)
    return [generate_video(cfg, seed, i) for i in range(batch)]


def time_mode(model, optimizer, criterion, forward, frames, history, targets, iters, sync):
    times = []
    for i in range(iters + 1):  # the first is warm-up
        sync()
        t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss, _ = criterion(forward(model, frames, history), targets, torch.Generator().manual_seed(i))
        loss.backward()
        optimizer.step()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tiny")
    p.add_argument("--size", type=parse_size, default=(128, 128), help="frame WxH, width x height (multiples of 32)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--lengths", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    hw = args.size[::-1]
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    torch.manual_seed(0)
    model = build_model(args.model, input_size=list(hw)).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    criterion = SetCriterion(LossConfig())
    longest = clips_of(max(args.lengths), args.batch, hw)
    tf = TeacherForcingConfig(prompt_prob=0.5, never_track_prob=0.0)
    parallel = lambda m, f, h: m.forward_clip(f, h)

    print(
        f"# model={args.model} frames={hw[1]}x{hw[0]} (WxH) batch={args.batch} device={device} "
        f"threads={torch.get_num_threads()} torch={torch.__version__}"
    )
    print(f"{'frames':>6} | {'parallel s/it':>13} | {'iterative s/it':>14} | {'speed-up':>8}")
    print(f"{'-' * 6}-+-{'-' * 13}-+-{'-' * 14}-+-{'-' * 8}")
    for T in args.lengths:
        clips = [c.select_frames(range(T)) for c in longest]
        frames = torch.from_numpy(np.stack([c.frames for c in clips])).permute(0, 1, 4, 2, 3)
        frames = frames.to(device).float() / 255
        history, targets, _ = teacher_force(clips, model.config.num_ids, np.random.default_rng(T), tf, device)
        t_par = time_mode(model, optimizer, criterion, parallel, frames, history, targets, args.iters, sync)
        t_it = time_mode(model, optimizer, criterion, forward_iterative, frames, history, targets, args.iters, sync)
        print(f"{T:>6} | {t_par:>13.3f} | {t_it:>14.3f} | {t_it / t_par:>7.2f}x", flush=True)


if __name__ == "__main__":
    main()
