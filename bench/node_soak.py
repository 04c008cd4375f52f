"""Soak: one node stream for many frames at low resolution; its resident memory must stay flat.

    python bench/node_soak.py [--frames 100000] [--report-every 10000]

The node runs as its own process with a tiny model at a 64x96 model input (so 100,000
frames take minutes, not hours); objects come and go so IDs are allocated and released
all along. Frames go in lock step (next frame once the previous output arrived).
Prints the node's RSS (from /proc) and its track-id counter at each report point.
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
sys.path.insert(0, ROOT)  # the checkout: ausm and bench.node_client

from ausm.checkpoint import save_checkpoint  # noqa: E402
from ausm.model import build_model  # noqa: E402
from bench.node_client import Client, rgb_image, start_node, stop_node  # noqa: E402


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for pid {pid}")


def frame(t, rng_bg):
    """Objects appear and vanish on a 400-frame cycle, so tracks start and end all the time."""
    f = rng_bg.copy()
    h, w = f.shape[:2]
    for k in range(3):
        if (t // 100 + k) % 4 == 3:
            continue
        cx = int((w * (0.2 + 0.3 * k) + 2 * t) % w)
        cy = int(h * (0.3 + 0.2 * k))
        f[max(0, cy - 6) : cy + 6, max(0, cx - 6) : cx + 6] = (240, 60 * k, 40)
    return f


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--report-every", type=int, default=10_000)
    parser.add_argument("--checkpoint", default="", help="default: a random tiny model at 64x96 input")
    args = parser.parse_args()
    checkpoint = args.checkpoint
    if not checkpoint:
        checkpoint = os.path.join(tempfile.mkdtemp(), "soak_tiny.safetensors")
        torch.manual_seed(0)
        save_checkpoint(build_model("tiny", input_size=[64, 96]), checkpoint)
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    env["ROS_DOMAIN_ID"] = os.environ.get("ROS_DOMAIN_ID") or str(random.randint(1, 100))
    proc = start_node(env, checkpoint, ["reset_on_gap_sec:=0.0", "release_after_frames:=10"])
    client = Client(env)
    rng_bg = np.random.default_rng(0).integers(0, 100, (48, 64, 3), dtype=np.uint8)
    rows = []
    try:
        client.wait_for_node()
        client.send_and_wait("camera", frame(0, rng_bg), 10**9)
        start = time.monotonic()
        for t in range(1, args.frames + 1):
            stamp = 10**9 + t * 10**7
            msg = rgb_image(frame(t, rng_bg), stamp)
            want = (msg.header.stamp.sec, msg.header.stamp.nanosec)
            client.image_pubs["camera"].publish(msg)
            try:
                client.wait_for(
                    lambda want=want: (
                        client.instances["camera"]
                        and (
                            client.instances["camera"][-1].header.stamp.sec,
                            client.instances["camera"][-1].header.stamp.nanosec,
                        )
                        == want
                    ),
                    2.0,
                    "",
                )
            except AssertionError:
                client.send_and_wait("camera", frame(t, rng_bg), stamp)  # lost in transit: resend
            with client.lock:
                last = client.instances["camera"][-1]
                del client.instances["camera"][:-1], client.detections["camera"][:]
            if t == 1000 or t % args.report_every == 0:
                ids = [int(d.id) for d in last.detections]
                rows.append((t, rss_mib(proc.pid), max(ids, default=0), time.monotonic() - start))
                print(
                    f"frame {t}: node RSS {rows[-1][1]:.1f} MiB, newest track id {rows[-1][2]}, {rows[-1][3]:.0f} s",
                    flush=True,
                )
    finally:
        client.close()
        stop_node(proc)
    print("\n| frame | node RSS MiB | newest track id | elapsed s |\n|---|---|---|---|")
    for t, rss, tid, el in rows:
        print(f"| {t} | {rss:.1f} | {tid} | {el:.0f} |")
    base = rows[0][1]
    print(f"RSS growth from frame {rows[0][0]} to {rows[-1][0]}: {rows[-1][1] - base:+.1f} MiB")


if __name__ == "__main__":
    main()
