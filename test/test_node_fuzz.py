"""2,000+ malformed and valid messages in random order over DDS: the node survives and stays correct."""

import random
import time

import cv2
import numpy as np
import pytest

pytest.importorskip("ausm_ros.msg")  # the ROS 2 environment (see conftest.py)
from ausm_ros.msg import ObjectPrompt, PromptAck, PromptPoint
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PointStamped
from helpers.node import assert_same, direct_results, moving_disc, ns
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import BoundingBox2D, Detection2D, Detection2DArray, Point2D, Pose2D

from bench.node_client import RELIABLE, Client, rgb_image

pytestmark = [pytest.mark.ros, pytest.mark.subprocess]


def _header(t, frame="cam"):
    return Header(stamp=Time(sec=t // 10**9, nanosec=t % 10**9), frame_id=frame)


def bad_images(rng, t):
    good = rgb_image(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8), t)
    cases = []
    for encoding in ("yuv422", "", "32FC1", "bayer_rggb8"):
        m = rgb_image(np.zeros((8, 8, 3), np.uint8), t)
        m.encoding = encoding
        cases.append(m)
    m = rgb_image(np.zeros((8, 8, 3), np.uint8), t)
    m.step = 5  # step smaller than a row
    cases.append(m)
    m = rgb_image(np.zeros((8, 8, 3), np.uint8), t)
    m.data = bytes(m.data)[:50]  # truncated
    cases.append(m)
    cases.append(Image(header=_header(t), height=0, width=0, encoding="rgb8", step=0))  # empty
    cases.append(
        Image(header=_header(t), height=100000, width=100000, encoding="rgb8", step=300000, data=b"\x00" * 64)
    )  # absurd
    cases.append(Image(header=_header(t), height=4, width=4, encoding="mono16", step=8, data=b"\x01" * 31))
    cases.append(good)
    return cases


def bad_compressed(rng, t):
    ok, jpeg = cv2.imencode(".jpg", rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))
    assert ok
    jpeg = jpeg.tobytes()
    return [
        CompressedImage(header=_header(t), format="jpeg", data=jpeg[: len(jpeg) // 3]),  # truncated
        CompressedImage(header=_header(t), format="jpeg", data=b"\xff\xd8garbage"),  # corrupt
        CompressedImage(header=_header(t), format="png", data=b""),  # empty
        CompressedImage(header=_header(t), format="webp", data=jpeg),  # unsupported
        CompressedImage(header=_header(t), format="jpeg", data=jpeg),  # valid
    ]


def _box(cx, cy, w, h, theta=0.0):
    return BoundingBox2D(center=Pose2D(position=Point2D(x=cx, y=cy), theta=theta), size_x=w, size_y=h)


def bad_prompts(rng, t):
    nan = float("nan")
    prompts = [
        ObjectPrompt(header=_header(t), action=ObjectPrompt.ADD, points=[PromptPoint(x=5000.0, y=3.0, positive=True)]),
        ObjectPrompt(header=_header(t), action=ObjectPrompt.ADD, points=[PromptPoint(x=nan, y=3.0, positive=True)]),
        ObjectPrompt(
            header=_header(t),
            action=ObjectPrompt.REFINE,
            object_id=987654,
            points=[PromptPoint(x=3.0, y=3.0, positive=True)],
        ),
        ObjectPrompt(header=_header(t), action=ObjectPrompt.REMOVE, object_id=424242),
        ObjectPrompt(header=_header(t), action=ObjectPrompt.REMOVE, object_id=0),
        ObjectPrompt(header=_header(t), action=17),
        ObjectPrompt(header=_header(t), action=ObjectPrompt.ADD, has_box=True, box=_box(nan, 3, 4, 4)),
        ObjectPrompt(header=_header(t), action=ObjectPrompt.ADD, has_box=True, box=_box(10, 10, -4, 4)),
        ObjectPrompt(header=_header(t), action=ObjectPrompt.ADD, has_box=True, box=_box(10, 10, 4, 4, 0.3)),
        ObjectPrompt(header=_header(t), action=ObjectPrompt.ADD, has_box=True, box=_box(9000, 10, 4, 4)),
        ObjectPrompt(
            header=_header(t),
            action=ObjectPrompt.ADD,
            mask=Image(height=3, width=3, encoding="mono8", step=3, data=b"\x01" * 9),
        ),  # wrong size
        ObjectPrompt(
            header=_header(t),
            action=ObjectPrompt.ADD,
            mask=Image(height=24, width=32, encoding="rgb8", step=96, data=b"\x01" * 2304),
        ),  # not mono8
        ObjectPrompt(
            header=_header(t), action=ObjectPrompt.ADD, stream="nope", points=[PromptPoint(x=3.0, y=3.0, positive=True)]
        ),
        ObjectPrompt(
            header=_header(t),
            action=ObjectPrompt.ADD,
            class_id="no_such_class",
            points=[PromptPoint(x=3.0, y=3.0, positive=True)],
        ),
        ObjectPrompt(header=_header(t), action=ObjectPrompt.ADD),  # no geometry
        ObjectPrompt(
            header=_header(t),
            action=ObjectPrompt.ADD,
            object_id=int(rng.integers(1, 2**32)),
            points=[PromptPoint(x=5.0, y=5.0, positive=True)],
        ),  # valid
    ]
    for p in prompts:
        p.stream = p.stream or "camera"
        p.prompt_id = int(rng.integers(0, 2**63))
    return prompts


def bad_boxes(rng, t):
    nan, inf = float("nan"), float("inf")
    return [
        Detection2DArray(header=_header(t), detections=[Detection2D(bbox=_box(nan, 1, 2, 2))]),
        Detection2DArray(header=_header(t), detections=[Detection2D(bbox=_box(1, 1, inf, 2))]),
        Detection2DArray(header=_header(t), detections=[Detection2D(bbox=_box(5, 5, 4, 4), id="abc")]),
        Detection2DArray(header=_header(t), detections=[Detection2D(bbox=_box(8, 8, 6, 6))]),
    ]


def bad_clicks(rng, t):
    return [PointStamped(header=_header(t)), PointStamped(header=_header(t))]


def test_fuzz_node_survives_and_answers_correctly(ros_env, checkpoint, node):
    # Reliable, deep image queues: every malformed header reaches the node's callback, so
    # the counts below do not depend on how much of a burst best effort would lose.
    node(
        "compressed_image_topics:=['/camera2/image_raw/compressed']",
        "reset_on_gap_sec:=0.0",
        "image_qos_reliable:=true",
        "image_qos_depth:=500",
    )
    client = Client(
        ros_env, streams=("camera", "camera2"), image_topics={"camera": "/camera/image_raw"}, reliable_images=True
    )
    compressed_pub = client.node.create_publisher(CompressedImage, "/camera2/image_raw/compressed", RELIABLE)
    prompt_pub = client.node.create_publisher(
        ObjectPrompt, "/prompts", QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
    )
    box_pub = client.node.create_publisher(Detection2DArray, "/camera/prompt_boxes", RELIABLE)
    click_pub = client.node.create_publisher(PointStamped, "/camera/clicked_point", RELIABLE)
    diagnostics = []
    client.node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: client._keep(diagnostics, m), 10)
    try:
        client.wait_for_node("camera")
        client.wait_for(
            lambda: (
                compressed_pub.get_subscription_count() > 0
                and prompt_pub.get_subscription_count() > 0
                and click_pub.get_subscription_count() > 0
            ),
            60,
            "node subscriptions",
        )
        rng = np.random.default_rng(7)
        chooser = random.Random(7)
        makers = [
            (bad_images, client.image_pubs["camera"]),
            (bad_compressed, compressed_pub),
            (bad_prompts, prompt_pub),
            (bad_boxes, box_pub),
            (bad_clicks, click_pub),
        ]
        sent = 0
        t = ns(1000)
        while sent < 2100:
            maker, pub = chooser.choice(makers)
            t += ns(0.01)
            messages = maker(rng, t)
            if maker is bad_clicks:
                messages[0].point.x = float("nan")
                messages[1].point.x, messages[1].point.y = 5.0, 5.0
            for msg in chooser.sample(messages, len(messages)):
                pub.publish(msg)
                sent += 1
            if sent % 200 < 10:
                time.sleep(0.05)  # let the node's queues drain a little, like a real bursty robot
        client.wait_for(lambda: any(a.status == PromptAck.REJECTED for a in client.acks), 30, "rejections")
        time.sleep(1.0)
        # One more frame of the burst's stream, stamped after it: every prompt still waiting
        # for its frame meets one now and is applied or rejected for its own reason.
        client.send_and_wait("camera", moving_disc(1, seed=3)[0], t + ns(1))

        # Still alive, and still exactly right on a clean stream. Its new frame_id resets the
        # stream, and burst prompts still in flight (stamped for frame_id 'cam') are rejected
        # instead of landing on the clean frames.
        frames = moving_disc(5, seed=11)
        msgs = [client.send_and_wait("camera", f, ns(5000 + i), frame_id="cam_clean") for i, f in enumerate(frames)]
        assert_same(msgs, direct_results(checkpoint, frames))

        with client.lock:
            reasons = {a.message for a in client.acks if a.status == PromptAck.REJECTED}
        expected = {
            "outside the image": ("outside the image",),
            "unknown id": ("unknown object id",),
            "unknown action": ("unknown action",),
            "NaN": ("NaN", "not finite"),
            "mask size": ("does not match", "prompt mask is"),
        }
        missing = [k for k, words in expected.items() if not any(w in r for r in reasons for w in words)]
        assert not missing, f"no rejection for {missing}; got {sorted(reasons)}"

        def latest():
            return {s.name.split(": ")[-1]: {kv.key: kv.value for kv in s.values} for s in diagnostics[-1].status}

        # Diagnostics come once a second: wait for a report that covers the whole burst.
        try:
            client.wait_for(
                lambda: diagnostics and all(int(v["invalid_inputs"]) >= 50 for v in latest().values()),
                15,
                "diagnostics counting the burst",
            )
        except AssertionError:
            pass  # the asserts below say what was counted
        with client.lock:
            status = latest()
        assert int(status["camera"]["invalid_inputs"]) >= 50, status["camera"]
        assert int(status["camera2"]["invalid_inputs"]) >= 50, status["camera2"]
        assert any("compressed" in k for k in status["camera2"]), status["camera2"]
        assert int(status["camera2"]["frames_processed"]) > 0
        assert any("unsupported encoding" in k for k in status["camera"]), status["camera"]
    finally:
        client.close()
