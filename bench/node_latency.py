"""Image-publish -> detections-received latency of the node, its overhead over a bare session.step,
and the loss of a sustained 640x480 stream, all under the node's default configuration.

    python bench/node_latency.py [--frames 100] [--checkpoint PATH] [--threads 1] [--stream-seconds 20]

Runs the node as its own process over real DDS (loopback) with its defaults: best-effort
sensor-data QoS for images and the shipped Fast DDS profile (this process, the stand-in
camera, loads it too, as the README asks of camera drivers). Sends frames in lock step
(the next frame once the previous frame's detections arrived) and times the same frames
through StreamSession.step in this process with the same thread count; prints p50/p99 per
resolution and the node's overhead (latency - step). Then publishes 640x480 rgb8 at 15 Hz
for --stream-seconds and reads the node's /diagnostics: frames lost before the node
(transport) and frames the node skipped because a newer one arrived (newest wins).
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
sys.path.insert(0, ROOT)  # the checkout: ausm, ausm_ros and bench.node_client
from vision_msgs.msg import Detection2DArray  # noqa: E402

from ausm.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from ausm.model import build_model  # noqa: E402
from ausm.runtimes import resolve_checkpoint  # noqa: E402
from ausm.session import SessionSettings, StreamSession  # noqa: E402
from ausm_ros.node_config import fastdds_profile_env, shipped_fastdds_profile  # noqa: E402
from bench.node_client import RELIABLE, Client, rgb_image, start_node, stop_node  # noqa: E402


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


def node_latency_ms(client, session, frames, stamp0, period_ns, wait_s=5.0):
    """Per frame, interleaved so both see the same machine load: the bare session.step time
    in this process, then the node's publish->detections latency in lock step. A frame best
    effort lost (no detections within wait_s) is counted."""
    for i, f in enumerate(frames[:3]):  # until discovery has settled both ways; resends if lost
        client.send_and_wait("camera", f, stamp0 - (3 - i) * period_ns)
    # Arrival times taken in the subscription callback itself: the harness's wait_for
    # polls every 20 ms, which would add up to 20 ms to every measurement.
    arrivals = {}
    client.node.create_subscription(
        Detection2DArray,
        "/camera/detections",
        lambda m: arrivals.setdefault((m.header.stamp.sec, m.header.stamp.nanosec), time.perf_counter()),
        RELIABLE,
    )
    time.sleep(1.0)  # the new subscription discovered
    bare, times, lost = [], [], 0
    for i, f in enumerate(frames):
        start = time.perf_counter()
        session.step(f)
        bare.append((time.perf_counter() - start) * 1e3)
        msg = rgb_image(f, stamp0 + i * period_ns)
        want = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        start = time.perf_counter()
        client.image_pubs["camera"].publish(msg)
        try:
            client.wait_for(lambda want=want: want in arrivals, wait_s, f"frame {i}")
        except AssertionError:
            lost += 1
            continue
        times.append((arrivals[want] - start) * 1e3)
    return bare[5:], times[5:], lost  # the first frames include allocator warm-up


def sustained_stream(client, hw, rate_hz, seconds, stamp0):
    """Publish at rate_hz for seconds; the node's own count of what reached it and what it skipped."""
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 255, (*hw, 3), dtype=np.uint8)
    time.sleep(2.5)  # a diagnostics report that covers every lock-step frame
    before = client.diagnostics_of("camera")[2]
    count = int(rate_hz * seconds)
    start = time.monotonic()
    for i in range(count):
        client.image_pubs["camera"].publish(rgb_image(frame, stamp0 + int(i * 1e9 / rate_hz)))
        time.sleep(max(0.0, start + (i + 1) / rate_hz - time.monotonic()))
    time.sleep(3.0)  # the last frames processed, a diagnostics report after them
    after = client.wait_for_diagnostics(lambda level, message, values: values is not None, 5, "diagnostics")[2]
    delta = {
        k: int(after[k]) - int(before[k])
        for k in (
            "frames_received",
            "dropped_frames",
            "frames_processed",
            "lost_before_node (middleware)",
            "lost_before_node (stamp gaps)",
            "late_frames",
        )
    }
    return count, delta


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--checkpoint", default="", help="default: the bundled demo checkpoint, else random tiny")
    parser.add_argument("--threads", type=int, default=1, help="inference threads, node and bare step alike")
    parser.add_argument(
        "--stream-seconds", type=float, default=20.0, help="length of the sustained 640x480 15 Hz stream (0: skip it)"
    )
    parser.add_argument(
        "--node-param",
        action="append",
        default=[],
        help="extra node parameter name:=value (repeatable); default: the node's defaults",
    )
    args = parser.parse_args()
    try:
        checkpoint = resolve_checkpoint(args.checkpoint)
    except FileNotFoundError:
        checkpoint = os.path.join(tempfile.mkdtemp(), "random_tiny.safetensors")
        torch.manual_seed(0)
        save_checkpoint(build_model("tiny"), checkpoint)
        print("bundled checkpoint missing: using a randomly initialised tiny model")
    env = dict(
        os.environ,
        ROS_DOMAIN_ID=os.environ.get("ROS_DOMAIN_ID") or str(random.randint(1, 100)),
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
    )
    # This process plays the camera driver: it loads the shipped profile, as the README asks.
    env.update(fastdds_profile_env("", shipped_fastdds_profile()))
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")})
    os.environ.update(fastdds_profile_env("", shipped_fastdds_profile()))

    rows, stream = [], None
    period_ns = int(1e9 / 15)  # stamps of a 15 Hz camera throughout
    torch.set_num_threads(args.threads)
    for hw in ((240, 320), (480, 640)):
        frames = video(args.frames, hw)
        session = StreamSession(load_checkpoint(checkpoint), SessionSettings())
        # The node's defaults (best-effort images, the shipped profile), gap resets off
        # because lock-step stamps run ahead of the wall clock.
        proc = start_node(
            env,
            checkpoint,
            [f"num_threads:={args.threads}", "reset_on_gap_sec:=0.0", *args.node_param],
            log_path=os.path.join(tempfile.gettempdir(), "ausm_node_latency.log"),
        )
        client = Client(env)
        try:
            client.wait_for_node()
            bare, lat, lost = node_latency_ms(client, session, frames, 10**9, period_ns)
            time.sleep(2.5)  # a diagnostics report covering the lock-step frames
            node_step = float(client.diagnostics_of("camera")[2]["step_ms_p50"])
            if hw == (480, 640) and args.stream_seconds > 0:
                stream = sustained_stream(
                    client, hw, 15.0, args.stream_seconds, stamp0=10**9 + (args.frames + 1) * period_ns
                )
        finally:
            client.close()
            stop_node(proc)
        (b50, b99), (l50, l99) = percentiles(bare), percentiles(lat)
        rows.append((f"{hw[1]}x{hw[0]}", b50, b99, l50, l99, l50 - b50, l99 / l50, lost, node_step))

    print(
        f"\nnode latency, CPU, {args.threads} inference thread(s), {args.frames} frames, checkpoint "
        f"{os.path.basename(checkpoint)}"
    )
    print(
        "| input | session.step p50 ms | step p99 ms | publish->detections p50 ms | p99 ms | "
        "overhead p50 ms | p99/p50 | lost in lock step | step inside the node p50 ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r[0]} | {r[1]:.1f} | {r[2]:.1f} | {r[3]:.1f} | {r[4]:.1f} | {r[5]:.1f} | {r[6]:.2f} | {r[7]} | "
            f"{r[8]:.1f} |"
        )
    if stream:
        sent, d = stream
        received = d["frames_received"]
        print(
            f"\nsustained 640x480 rgb8 at 15 Hz for {args.stream_seconds:g} s, best effort: sent {sent}, "
            f"reached the node {received} (lost before the node {100 * (sent - received) / sent:.2f}%: "
            f"{d['lost_before_node (middleware)']} reported by the middleware, "
            f"{d['lost_before_node (stamp gaps)']} from stamp gaps), processed {d['frames_processed']}, "
            f"skipped by the node for a newer frame {d['dropped_frames']}"
        )


if __name__ == "__main__":
    main()
