"""Does one stream stay constant in time and memory per frame?

Runs one StreamSession (default: tiny config, random weights, CPU) over a synthetic
320x240 video of moving shapes and reports per-frame latency and resident memory
(RSS) at frames 10, 100, 1000 and 10000; then the recurrent state size in bytes per
config and input resolution (computed from the shapes, on the meta device).

    python bench/stream_scaling.py [--frames 10000] [--config tiny] [--size 320x240]
"""

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from ausm import AUSM, load_config
from ausm.config import parse_size
from ausm.session import StreamSession

CHECKPOINTS = (10, 100, 1000, 10000)
RESOLUTIONS = ((320, 240), (640, 480))


def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def synthetic_frame(t, w, h, rng_seed=0):
    """Shapes drifting across a gradient; each lives ~200 frames, so objects come and go."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = (xx * 255 // w).astype(np.uint8)
    img[..., 1] = (yy * 255 // h).astype(np.uint8)
    img[..., 2] = 90
    for k in range(4):
        life = (t + 57 * k) % 200
        if life > 160:
            continue
        rng = np.random.default_rng(rng_seed + k + 4 * ((t + 57 * k) // 200))
        cx = (rng.uniform(0.1, 0.9) * w + life * rng.uniform(-1, 1)) % w
        cy = (rng.uniform(0.1, 0.9) * h + life * rng.uniform(-0.5, 0.5)) % h
        r = rng.uniform(0.06, 0.15) * min(w, h)
        img[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = rng.integers(0, 256, 3, dtype=np.uint8)
    return img


def run_stream(config, size, frames, seed=0):
    torch.manual_seed(seed)
    model = AUSM(load_config(config)).eval()
    session = StreamSession(model)
    w, h = size
    rows, lat, cpu = [], [], []
    marks = [c for c in CHECKPOINTS if c <= frames]
    t_start = time.perf_counter()
    for t in range(1, frames + 1):
        img = synthetic_frame(t, w, h)
        t0, c0 = time.perf_counter(), time.process_time()
        res = session.step(img)
        lat.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if t % 1000 == 0 and t not in marks:
            print(f"  ... frame {t}, {time.perf_counter() - t_start:.0f} s", flush=True)
        if t in marks:
            window = lat[-9:]  # the 9 frames ending here: one frame is too noisy
            rows.append(
                (
                    t,
                    1000 * float(np.median(window)),
                    1000 * max(window),
                    rss_mib(),
                    len(res),
                    int(session.tracks.next_id - 1),
                    session.state_bytes(),
                    1000 * float(np.median(cpu[-9:])),
                    os.getloadavg()[0],
                )
            )
            print(f"  frame {t}: {rows[-1][1]:.1f} ms, RSS {rows[-1][3]:.0f} MiB", flush=True)
    return rows, time.perf_counter() - t_start


def state_sizes():
    out = []
    for name in ("tiny", "swin_t", "swin_b"):
        cfg = load_config(name)
        with torch.device("meta"):
            model = AUSM(cfg)
        for w, h in RESOLUTIONS:
            hw = cfg.model_size((h, w))
            masks = cfg.num_ids * (hw[0] // 4) * (hw[1] // 4) * 4
            out.append((name, f"{w}x{h}", f"{hw[1]}x{hw[0]}", model.state_bytes(1, hw) + masks))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=10000)
    ap.add_argument("--config", default="tiny")
    ap.add_argument(
        "--size", type=parse_size, default=(320, 240), help="camera frame WxH, width x height (default 320x240)"
    )
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    size = args.size

    print("| config | camera | model input | recurrent state bytes (batch 1) |")
    print("|---|---|---|---:|")
    for name, cam, model_in, b in state_sizes():
        print(f"| {name} | {cam} | {model_in} | {b:,} ({b / 2**20:.1f} MiB) |")

    print(
        f"\n# stream scaling: config {args.config}, {size[0]}x{size[1]} frames, {args.threads} threads, "
        f"torch {torch.__version__} CPU, random weights"
    )
    rows, total = run_stream(args.config, size, args.frames)
    print(
        "\n| frame | latency median of 9 (ms) | max of 9 (ms) | CPU time median (ms) | RSS (MiB) "
        "| objects | track ids used | state bytes | load avg |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r[0]} | {r[1]:.1f} | {r[2]:.1f} | {r[7]:.1f} | {r[3]:.1f} | {r[4]} | {r[5]} | {r[6]:,} | {r[8]:.1f} |"
        )
    print(f"\n{args.frames} frames in {total:.0f} s ({args.frames / total:.1f} FPS including frame synthesis)")
    by_frame = {r[0]: r for r in rows}
    if 100 in by_frame and 10000 in by_frame:
        d_lat = by_frame[10000][1] / by_frame[100][1] - 1
        d_rss = by_frame[10000][3] - by_frame[100][3]
        print(f"latency frame 10000 vs 100: {100 * d_lat:+.1f}%; RSS change {d_rss:+.1f} MiB")


if __name__ == "__main__":
    main()
