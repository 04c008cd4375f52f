"""Image-publish -> detections-received latency of the node, and its overhead over a bare session.step.

    python bench/node_latency.py [--frames 100] [--checkpoint PATH] [--threads 1]

Runs the node as its own process over real DDS (loopback), sends frames in lock step
(the next frame once the previous frame's detections arrived, so nothing is dropped),
and times the same frames through StreamSession.step in this process with the same
thread count. Prints p50/p99 per resolution and the node's overhead (latency - step).
"""
import argparse
import os
import random
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test"))
from node_harness import Client, rgb_image, start_node, stop_node  # noqa: E402

from ausm.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from ausm.model import build_model  # noqa: E402
from ausm.session import SessionSettings, StreamSession  # noqa: E402
from ausm_ros.model_loading import resolve_checkpoint  # noqa: E402


def video(n, hw, seed=0):
    """Two discs moving over a noisy background: something to track at any resolution."""
    rng = np.random.default_rng(seed)
    h, w = hw
    background = rng.integers(0, 120, (h, w, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    for t in range(n):
        f = background.copy()
        for k, colour in enumerate(((240, 200, 40), (40, 220, 240))):
            cx = (0.2 + 0.5 * k) * w + 2 * t % (0.3 * w)
            cy = (0.3 + 0.3 * k) * h
            f[(xx - cx) ** 2 + (yy - cy) ** 2 < (0.08 * min(h, w)) ** 2] = colour
        frames.append(f)
    return frames


def percentiles(ms):
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def bare_step_ms(checkpoint, frames, threads):
    torch.set_num_threads(threads)
    session = StreamSession(load_checkpoint(checkpoint), SessionSettings())
    times = []
    for f in frames:
        start = time.perf_counter()
        session.step(f)
        times.append((time.perf_counter() - start) * 1e3)
    return times[5:]   # the first frames include allocator and autotuning warm-up


def node_latency_ms(client, frames, stamp0):
    for i, f in enumerate(frames[:3]):   # until discovery has settled both ways; resends if lost
        client.send_and_wait("camera", f, stamp0 - (3 - i) * 10**8)
    times = []
    for i, f in enumerate(frames):
        stamp = stamp0 + i * 10**7
        msg = rgb_image(f, stamp)
        want = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        start = time.perf_counter()
        client.image_pubs["camera"].publish(msg)
        client.wait_for(lambda: any((d.header.stamp.sec, d.header.stamp.nanosec) == want
                                    for d in client.detections["camera"][-3:]), 60, f"frame {i}")
        times.append((time.perf_counter() - start) * 1e3)
    return times[5:]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--checkpoint", default="", help="default: the bundled demo checkpoint, else random tiny")
    parser.add_argument("--threads", type=int, default=1, help="inference threads, node and bare step alike")
    args = parser.parse_args()
    try:
        checkpoint = resolve_checkpoint(args.checkpoint)
    except FileNotFoundError:
        checkpoint = os.path.join(tempfile.mkdtemp(), "random_tiny.safetensors")
        torch.manual_seed(0)
        save_checkpoint(build_model("tiny"), checkpoint)
        print("bundled checkpoint missing: using a randomly initialised tiny model")
    env = dict(os.environ, ROS_DOMAIN_ID=os.environ.get("ROS_DOMAIN_ID") or str(random.randint(1, 100)), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")})

    rows = []
    for hw in ((240, 320), (480, 640)):
        frames = video(args.frames, hw)
        bare = bare_step_ms(checkpoint, frames, args.threads)
        proc = start_node(env, checkpoint, [f"num_threads:={args.threads}", "reset_on_gap_sec:=0.0",
                                            # 640x480 rgb8 frames exceed Fast DDS's shared-memory
                                            # segment; best-effort UDP fragments get lost.
                                            "image_qos_reliable:=true"],
                          log_path=os.path.join(tempfile.gettempdir(), "ausm_node_latency.log"))
        client = Client(env, reliable_images=True)
        try:
            client.wait_for_node()
            lat = node_latency_ms(client, frames, stamp0=10**9)
        finally:
            client.close()
            stop_node(proc)
        (b50, b99), (l50, l99) = percentiles(bare), percentiles(lat)
        rows.append((f"{hw[1]}x{hw[0]}", b50, b99, l50, l99, l50 - b50, l99 / l50))

    print(f"\nnode latency, CPU, {args.threads} inference thread(s), {args.frames} frames, checkpoint "
          f"{os.path.basename(checkpoint)}")
    print("| input | session.step p50 ms | step p99 ms | publish->detections p50 ms | p99 ms | "
          "overhead p50 ms | p99/p50 |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]:.1f} | {r[2]:.1f} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.1f} | {r[6]:.2f} |")


if __name__ == "__main__":
    main()
