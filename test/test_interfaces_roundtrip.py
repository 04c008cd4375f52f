"""Every ausm_ros message and service type crosses real DDS between two processes intact."""

import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("ausm_ros.msg")  # the ROS 2 environment (see conftest.py)
import rclpy
from builtin_interfaces.msg import Time
from helpers.ros_echo_peer import MESSAGE_TYPES, RELIABLE
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs import msg as vision_msg

from ausm_ros import msg as ausm_msg
from ausm_ros import srv as ausm_srv

pytestmark = [pytest.mark.ros, pytest.mark.subprocess]

HERE = os.path.dirname(os.path.abspath(__file__))


def _header(sec, frame):
    return Header(stamp=Time(sec=sec, nanosec=999_999_999), frame_id=frame)


def _mono8(width, height, seed):
    data = bytes((seed * 31 + i * 7) % 256 for i in range(width * height))
    return Image(header=_header(seed, "cam"), width=width, height=height, encoding="mono8", step=width, data=data)


def _box(cx, cy, w, h):
    return vision_msg.BoundingBox2D(
        center=vision_msg.Pose2D(position=vision_msg.Point2D(x=cx, y=cy), theta=0.0), size_x=w, size_y=h
    )


def _detection(track_id, score):
    hyp = vision_msg.ObjectHypothesisWithPose(hypothesis=vision_msg.ObjectHypothesis(class_id="cube", score=score))
    hyp.pose.pose.position.x = 1.5
    hyp.pose.covariance[35] = 0.25
    return vision_msg.Detection2D(
        header=_header(5, "cam"), results=[hyp], bbox=_box(10.5, 20.25, 4.0, 8.0), id=str(track_id)
    )


def sample_messages():
    """One fully populated instance of each type, using extreme values where types allow."""
    points = [ausm_msg.PromptPoint(x=1.5, y=2.25, positive=True), ausm_msg.PromptPoint(x=639.0, y=0.0, positive=False)]
    prompt = ausm_msg.ObjectPrompt(
        header=_header(1_700_000_000, "camera_optical"),
        stream="front",
        prompt_id=2**64 - 1,
        action=ausm_msg.ObjectPrompt.REFINE,
        object_id=2**32 - 1,
        points=points,
        has_box=True,
        box=_box(50.0, 60.0, 20.0, 10.0),
        mask=_mono8(7, 5, 3),
        class_id="person",
    )
    ack = ausm_msg.PromptAck(
        header=_header(12, "cam"),
        stream="front",
        prompt_id=42,
        action=ausm_msg.ObjectPrompt.ADD,
        object_id=7,
        status=ausm_msg.PromptAck.APPLIED_LATE,
        requested_stamp=Time(sec=11, nanosec=5),
        message="frame already processed",
    )
    mask = ausm_msg.InstanceMask(track_id=9, x_offset=3, y_offset=4, mask=_mono8(6, 4, 9))
    seg = ausm_msg.InstanceSegmentation(
        header=_header(77, "cam"),
        image_width=640,
        image_height=480,
        detections=[_detection(9, 0.75), _detection(12, 0.5)],
        masks=[mask, ausm_msg.InstanceMask(track_id=12, x_offset=0, y_offset=0, mask=_mono8(2, 3, 1))],
        origins=[ausm_msg.InstanceSegmentation.ORIGIN_PROMPT, ausm_msg.InstanceSegmentation.ORIGIN_DISCOVERED],
        new_track_ids=[12],
        released_track_ids=[3, 4],
    )
    dets = vision_msg.Detection2DArray(header=_header(77, "cam"), detections=[_detection(1, 0.9)])
    labels = vision_msg.LabelInfo(
        header=_header(0, "cam"),
        threshold=0.5,
        class_map=[
            vision_msg.VisionClass(class_id=0, class_name="disc"),
            vision_msg.VisionClass(class_id=65535, class_name="ring"),
        ],
    )
    samples = {
        "PromptPoint": points[1],
        "ObjectPrompt": prompt,
        "PromptAck": ack,
        "InstanceMask": mask,
        "InstanceSegmentation": seg,
        "Detection2DArray": dets,
        "LabelInfo": labels,
    }
    assert set(samples) == set(MESSAGE_TYPES)
    return samples


@pytest.fixture
def echo_peer(ros_env, monkeypatch):
    for key in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE"):
        monkeypatch.setenv(key, ros_env[key])
    peer = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "helpers", "ros_echo_peer.py")],
        env=ros_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert peer.stdout.readline().strip() == "ready", "echo peer failed to start"
    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node("ausm_roundtrip_test", context=context)
    yield node, context
    node.destroy_node()
    rclpy.shutdown(context=context)
    peer.send_signal(signal.SIGINT)  # how a ROS node is asked to stop
    try:
        # reading its output to the end: a peer blocked writing to a full pipe never exits
        peer.communicate(timeout=10)
    except subprocess.TimeoutExpired:  # a slow DDS teardown on a loaded machine is not what this tests
        peer.kill()
        peer.communicate()


def _spin_until(node, context, done, timeout):
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    executor.remove_node(node)
    return done()


def test_every_message_type_round_trips(echo_peer):
    node, context = echo_peer
    samples = sample_messages()
    received = {}
    publishers = {}
    for name, msg_type in MESSAGE_TYPES.items():
        publishers[name] = node.create_publisher(msg_type, f"rt_in/{name}", RELIABLE)
        node.create_subscription(msg_type, f"rt_out/{name}", lambda m, n=name: received.setdefault(n, m), RELIABLE)

    def matched():
        return all(
            p.get_subscription_count() > 0 and node.count_publishers(f"rt_out/{n}") > 0 for n, p in publishers.items()
        )

    assert _spin_until(node, context, matched, 30), "echo peer's endpoints never matched"
    # Discovery of the peer's writers can lag its readers; republish until all come back.
    deadline = time.monotonic() + 30
    while len(received) < len(samples) and time.monotonic() < deadline:
        for name, message in samples.items():
            if name not in received:
                publishers[name].publish(message)
        _spin_until(node, context, lambda: len(received) == len(samples), 1.0)

    assert set(received) == set(samples), f"never echoed: {sorted(set(samples) - set(received))}"
    for name, message in samples.items():
        assert received[name] == message, f"{name} changed in transit:\n sent {message}\n got {received[name]}"
    seg = received["InstanceSegmentation"]
    assert bytes(seg.masks[0].mask.data) == bytes(samples["InstanceMask"].mask.data)
    assert received["ObjectPrompt"].prompt_id == 2**64 - 1 and received["ObjectPrompt"].object_id == 2**32 - 1


def test_every_service_type_round_trips(echo_peer):
    node, context = echo_peer
    prompt = sample_messages()["ObjectPrompt"]
    prompt.object_id = 41
    calls = [
        (
            ausm_srv.AddObject,
            "rt/add_object",
            ausm_srv.AddObject.Request(prompt=prompt),
            lambda r: r.success and r.object_id == 42 and r.message == f"person:2:{2**64 - 1}",
        ),
        (
            ausm_srv.RemoveObject,
            "rt/remove_object",
            ausm_srv.RemoveObject.Request(stream="front", object_id=7),
            lambda r: not r.success and r.message == "front/7",
        ),
        (
            ausm_srv.ResetStream,
            "rt/reset_stream",
            ausm_srv.ResetStream.Request(stream="rear"),
            lambda r: r.success and r.message == "reset rear",
        ),
    ]
    for srv_type, name, request, check in calls:
        client = node.create_client(srv_type, name)
        assert _spin_until(node, context, client.service_is_ready, 30), f"{name} never became available"
        future = client.call_async(request)
        assert _spin_until(node, context, future.done, 30), f"{name} never answered"
        assert check(future.result()), f"{name} answered {future.result()}"
