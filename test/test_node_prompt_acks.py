"""Every prompt gets exactly one ack its sender can match: boxes and clicks too, bad or good;
boxes are clipped to the image; future prompts expire; ids are never reused; frame reasons say
which frame is expected."""

import collections
import time

import pytest

pytest.importorskip("ausm_ros.msg")  # the ROS 2 environment (see conftest.py)
from ausm_ros.msg import ObjectPrompt, PromptAck
from ausm_ros.srv import AddObject
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, PointStamped
from helpers.node import moving_disc, ns, prompt
from std_msgs.msg import Header
from vision_msgs.msg import BoundingBox2D, Detection2D, Detection2DArray, Point2D, Pose2D

from bench.node_client import RELIABLE, Client

pytestmark = [pytest.mark.ros, pytest.mark.subprocess]


def _header(t, frame_id="cam"):
    return Header(stamp=Time(sec=t // 10**9, nanosec=t % 10**9), frame_id=frame_id)


def _det(cx, cy, w, h, det_id=""):
    return Detection2D(bbox=BoundingBox2D(center=Pose2D(position=Point2D(x=cx, y=cy)), size_x=w, size_y=h), id=det_id)


def test_every_prompt_gets_one_matchable_ack(ros_env, node):
    node("prompt_horizon_sec:=2.0", "service_timeout_sec:=1.0")
    client = Client(ros_env)
    prompts = client.node.create_publisher(ObjectPrompt, "/prompts", RELIABLE)
    boxes = client.node.create_publisher(Detection2DArray, "/camera/prompt_boxes", RELIABLE)
    clicks = client.node.create_publisher(PointStamped, "/camera/clicked_point", RELIABLE)
    add = client.node.create_client(AddObject, "/add_object")
    frames = moving_disc(12, seed=12)

    def acks(**match):
        with client.lock:
            return [a for a in client.acks if all(getattr(a, k) == v for k, v in match.items())]

    def one_ack(timeout=15, **match):
        client.wait_for(lambda: acks(**match), timeout, f"ack {match}")
        time.sleep(0.2)  # a duplicate would arrive right behind it
        found = acks(**match)
        assert len(found) == 1, found
        return found[0]

    try:
        client.wait_for_node()
        client.wait_for(
            lambda: (
                boxes.get_subscription_count() > 0
                and clicks.get_subscription_count() > 0
                and prompts.get_subscription_count() > 0
            ),
            30,
            "prompt subscriptions",
        )
        client.send_and_wait("camera", frames[0], ns(1))

        # Boxes: one ack each, matched by (source, requested stamp, index); the one crossing
        # the right edge (160 px) is clipped and applied.
        boxes.publish(
            Detection2DArray(
                header=_header(ns(2)),
                detections=[
                    _det(150.0, 20.0, 40.0, 10.0),
                    _det(20.0, 20.0, 8.0, 8.0, det_id="abc"),
                    _det(20.0, 20.0, float("nan"), 8.0),
                ],
            )
        )
        clicks.publish(PointStamped(header=_header(ns(2)), point=Point(x=float("nan"), y=3.0)))
        clicks.publish(PointStamped(header=_header(ns(2), "map"), point=Point(x=1.5, y=-0.3)))
        time.sleep(0.5)
        client.send_and_wait("camera", frames[1], ns(2))
        stamp = Time(sec=2)
        clipped = one_ack(source=PromptAck.SOURCE_BOXES, requested_stamp=stamp, index=0)
        assert clipped.status == PromptAck.APPLIED and clipped.object_id > 0, clipped
        bad_id = one_ack(source=PromptAck.SOURCE_BOXES, requested_stamp=stamp, index=1)
        assert bad_id.status == PromptAck.REJECTED and "'abc'" in bad_id.message, bad_id
        nan = one_ack(source=PromptAck.SOURCE_BOXES, requested_stamp=stamp, index=2)
        assert nan.status == PromptAck.REJECTED and "NaN" in nan.message, nan
        click_acks = acks(source=PromptAck.SOURCE_CLICK, requested_stamp=stamp)
        client.wait_for(
            lambda: len(acks(source=PromptAck.SOURCE_CLICK, requested_stamp=stamp)) == 2, 15, "two click acks"
        )
        click_acks = acks(source=PromptAck.SOURCE_CLICK, requested_stamp=stamp)
        assert all(a.status == PromptAck.REJECTED for a in click_acks), click_acks
        reasons = " | ".join(a.message for a in click_acks)
        assert "not finite" in reasons, reasons
        assert "frame_id 'map'" in reasons and "frame_id 'cam'" in reasons and "pixel" in reasons, reasons

        # Ids are never reused: a released id cannot be asked for again.
        removed = clipped.object_id
        prompts.publish(prompt(31, 0, action=ObjectPrompt.REMOVE, object_id=removed))
        time.sleep(0.5)
        client.send_and_wait("camera", frames[2], ns(3))
        assert one_ack(prompt_id=31).status == PromptAck.APPLIED
        prompts.publish(prompt(32, 0, object_id=removed, box=(10, 10, 40, 40)))
        time.sleep(0.5)
        client.send_and_wait("camera", frames[3], ns(4))
        reused = one_ack(prompt_id=32)
        assert reused.status == PromptAck.REJECTED and "never reused" in reused.message, reused

        # Far in the future: rejected at the next frame, not kept for ever.
        prompts.publish(prompt(33, ns(1000), box=(10, 10, 40, 40)))
        time.sleep(0.5)
        client.send_and_wait("camera", frames[4], ns(5))
        far = one_ack(prompt_id=33)
        assert far.status == PromptAck.REJECTED and "prompt_horizon_sec" in far.message, far
        # Within the horizon but its frame never comes (the camera stopped): expires.
        prompts.publish(prompt(34, ns(6), box=(10, 10, 40, 40)))
        expired = one_ack(prompt_id=34, timeout=10)
        assert expired.status == PromptAck.REJECTED and "expired" in expired.message, expired

        # A service prompt that no frame takes: the reply and one REJECTED ack.
        reply = client.call(add, AddObject.Request(prompt=prompt(35, 0, box=(10, 10, 40, 40))))
        assert not reply.success and "no frame" in reply.message, reply
        withdrawn = one_ack(prompt_id=35, source=PromptAck.SOURCE_SERVICE)
        assert withdrawn.status == PromptAck.REJECTED

        with client.lock:
            keys = collections.Counter(
                (
                    a.source,
                    a.prompt_id,
                    a.requested_stamp.sec,
                    a.requested_stamp.nanosec,
                    a.index,
                    a.message if a.source == PromptAck.SOURCE_CLICK else "",
                )
                for a in client.acks
            )
        assert max(keys.values()) == 1, keys
    finally:
        client.close()
