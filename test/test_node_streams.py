"""The node over real DDS in its own process: stamps, per-camera state, resets, equality with StreamSession."""

import pytest

pytest.importorskip("ausm_ros.msg")  # the ROS 2 environment (see conftest.py)
from ausm_ros.srv import ResetStream
from builtin_interfaces.msg import Time
from helpers.node import assert_same, direct_results, moving_disc, ns

from bench.node_client import Client

pytestmark = [pytest.mark.ros, pytest.mark.subprocess]


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
