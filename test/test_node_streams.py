"""The node over real DDS in its own process: stamps, per-camera state, resets, equality with StreamSession."""

import numpy as np
import torch
from ausm_ros.srv import ResetStream
from builtin_interfaces.msg import Time
from node_harness import Client

from ausm.checkpoint import load_checkpoint
from ausm.session import SessionSettings, StreamSession

SETTINGS = SessionSettings(discovery=True, score_threshold=0.5, top_k=10, max_absent_frames=30)


def moving_disc(n, seed, hw=(120, 160)):
    """Frames of a bright disc sliding over a fixed noisy background."""
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 120, (*hw, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0 : hw[0], 0 : hw[1]]
    frames = []
    for t in range(n):
        frame = background.copy()
        cx, cy = 30 + 8 * t, 40 + 3 * t
        frame[(xx - cx) ** 2 + (yy - cy) ** 2 < 15**2] = (240, 200, 40)
        frames.append(frame)
    return frames


def direct_results(checkpoint, frames):
    torch.set_num_threads(1)
    session = StreamSession(load_checkpoint(checkpoint), SETTINGS)
    return [session.step(f) for f in frames]


def decode_masks(msg):
    """Full-size bool masks of an InstanceSegmentation, keyed by track id."""
    out = {}
    for det, inst in zip(msg.detections, msg.masks):
        full = np.zeros((msg.image_height, msg.image_width), dtype=bool)
        crop = np.frombuffer(bytes(inst.mask.data), np.uint8).reshape(inst.mask.height, inst.mask.width) > 0
        full[inst.y_offset : inst.y_offset + crop.shape[0], inst.x_offset : inst.x_offset + crop.shape[1]] = crop
        assert det.id == str(inst.track_id)
        out[inst.track_id] = full
    return out


def assert_same(msgs, results):
    """Node outputs equal the session's, up to a consistent renaming of track ids."""
    rename = {}
    for msg, result in zip(msgs, results):
        got = decode_masks(msg)
        assert len(got) == len(result.track_ids)
        for track_id, mask in zip(result.track_ids, result.masks):
            matches = [t for t, m in got.items() if np.array_equal(m, mask)]
            assert matches, f"no published mask equals session track {track_id}"
            assert rename.setdefault(int(track_id), matches[0]) == matches[0], "track ids were not kept consistently"


def ns(sec):
    return int(sec * 1e9)


def test_outputs_carry_input_headers_and_equal_the_session(ros_env, checkpoint, node):
    node()
    client = Client(ros_env)
    try:
        client.wait_for_node()
        frames = moving_disc(6, seed=1)
        msgs = [
            client.send_and_wait("camera", f, ns(100 + 0.1 * i), frame_id="cam_optical") for i, f in enumerate(frames)
        ]
        for i, msg in enumerate(msgs):
            assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == divmod(ns(100 + 0.1 * i), 10**9)
            assert msg.header.frame_id == "cam_optical"
            assert (msg.image_width, msg.image_height) == (160, 120)
        with client.lock:
            det_stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in client.detections["camera"]}
        assert {(m.header.stamp.sec, m.header.stamp.nanosec) for m in msgs} <= det_stamps
        assert_same(msgs, direct_results(checkpoint, frames))
    finally:
        client.close()


def test_two_cameras_keep_separate_states(ros_env, checkpoint, node):
    node("image_topics:=['/left/image_raw', '/right/image_raw']")
    client = Client(ros_env, streams=("left", "right"))
    try:
        client.wait_for_node("left")
        client.wait_for_node("right")
        left, right = moving_disc(5, seed=2), moving_disc(5, seed=3)
        got = {"left": [], "right": []}
        for i in range(5):  # interleaved: a shared state would mix the two videos
            got["left"].append(client.send_and_wait("left", left[i], ns(10 + i)))
            got["right"].append(client.send_and_wait("right", right[i], ns(10 + i)))
        assert_same(got["left"], direct_results(checkpoint, left))
        assert_same(got["right"], direct_results(checkpoint, right))
    finally:
        client.close()


def test_time_jump_and_reset_service_restart_the_stream(ros_env, checkpoint, node):
    node()
    client = Client(ros_env)
    try:
        client.wait_for_node()
        frames = moving_disc(4, seed=4)
        fresh = direct_results(checkpoint, frames[3:])  # frame 3 seen by a new stream
        for i in range(3):
            client.send_and_wait("camera", frames[i], ns(50 + i))
        jumped = client.send_and_wait("camera", frames[3], ns(49))  # the bag looped
        assert_same([jumped], fresh)

        for i in range(3):
            client.send_and_wait("camera", frames[i], ns(60 + i))
        reset = client.node.create_client(ResetStream, "/reset_stream")
        assert reset.wait_for_service(timeout_sec=30)
        future = reset.call_async(ResetStream.Request(stream="camera"))
        client.wait_for(future.done, 30, "reset_stream reply")
        assert future.result().success, future.result().message
        after = client.send_and_wait("camera", frames[3], ns(63))
        assert_same([after], fresh)
        assert after.header.stamp == Time(sec=63, nanosec=0)
    finally:
        client.close()
