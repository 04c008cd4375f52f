"""Prompts over DDS: acknowledgements say what was applied to which frame; services wait for a frame."""

import time

import pytest

pytest.importorskip("ausm_ros.msg")  # the ROS 2 environment (see conftest.py)
from ausm_ros.msg import ObjectPrompt, PromptAck
from ausm_ros.srv import AddObject, RemoveObject
from builtin_interfaces.msg import Time
from helpers.node import moving_disc, ns, prompt

from bench.node_client import RELIABLE, Client

pytestmark = [pytest.mark.ros, pytest.mark.subprocess]


def test_prompt_acknowledgements_and_services(ros_env, checkpoint, node):
    node()
    client = Client(ros_env)
    pub = client.node.create_publisher(ObjectPrompt, "/prompts", RELIABLE)
    add = client.node.create_client(AddObject, "/add_object")
    remove = client.node.create_client(RemoveObject, "/remove_object")
    frames = moving_disc(10, seed=5)

    def ack(prompt_id):
        client.wait_for(lambda: any(a.prompt_id == prompt_id for a in client.acks), 30, f"ack of {prompt_id}")
        with client.lock:
            return next(a for a in client.acks if a.prompt_id == prompt_id)

    try:
        client.wait_for_node()
        client.wait_for(lambda: pub.get_subscription_count() > 0, 30, "prompt subscription")
        for i in range(3):
            client.send_and_wait("camera", frames[i], ns(1 + i))

        # Stamped with frame 2, which is already processed: applied to the next frame, and said so.
        pub.publish(prompt(11, ns(2), object_id=77, box=(20, 30, 60, 70)))
        time.sleep(0.5)  # let the reliable prompt arrive before the next frame
        client.send_and_wait("camera", frames[3], ns(4))
        late = ack(11)
        assert late.status == PromptAck.APPLIED_LATE, late
        assert late.object_id == 77 and late.header.stamp == Time(sec=4) and late.requested_stamp == Time(sec=2)
        assert "already processed" in late.message

        # Stamped with a frame that has not arrived: it waits for that frame.
        pub.publish(prompt(12, ns(6), points=[(100.0, 50.0)]))
        client.send_and_wait("camera", frames[4], ns(5))
        with client.lock:
            assert not any(a.prompt_id == 12 for a in client.acks), "applied before its frame"
        client.send_and_wait("camera", frames[5], ns(6))
        on_time = ack(12)
        assert on_time.status == PromptAck.APPLIED and on_time.header.stamp == Time(sec=6)
        assert on_time.object_id not in (0, 77)

        # Unknown ids and impossible geometry are rejected with the reason.
        pub.publish(prompt(13, 0, action=ObjectPrompt.REFINE, object_id=4242, points=[(1.0, 1.0)]))
        pub.publish(prompt(14, 0, box=(200, 10, 400, 20)))
        # A box crossing the image edge (160 wide) is clipped to its part inside, not refused.
        pub.publish(prompt(16, 0, box=(150, 10, 400, 20)))
        time.sleep(0.5)
        client.send_and_wait("camera", frames[6], ns(7))
        assert ack(13).status == PromptAck.REJECTED and "unknown object id 4242" in ack(13).message
        assert ack(14).status == PromptAck.REJECTED and "outside the image" in ack(14).message
        assert ack(16).status == PromptAck.APPLIED, ack(16)
        assert ack(16).source == PromptAck.SOURCE_TOPIC

        # Services answer once a frame has taken the prompt.
        assert add.wait_for_service(timeout_sec=30) and remove.wait_for_service(timeout_sec=30)
        request = AddObject.Request(prompt=prompt(15, 0, box=(10, 10, 40, 40)))
        future = add.call_async(request)
        time.sleep(0.5)  # let the reliable prompt arrive before the next frame
        client.send_and_wait("camera", frames[7], ns(8))
        client.wait_for(future.done, 30, "add_object reply")
        reply = future.result()
        assert reply.success and reply.object_id not in (0, 77, on_time.object_id, ack(16).object_id), reply
        assert ack(15).header.stamp == Time(sec=8)

        future = remove.call_async(RemoveObject.Request(stream="camera", object_id=77))
        time.sleep(0.5)  # let the reliable prompt arrive before the next frame
        client.send_and_wait("camera", frames[8], ns(9))
        client.wait_for(future.done, 30, "remove_object reply")
        assert future.result().success, future.result().message
        future = remove.call_async(RemoveObject.Request(stream="camera", object_id=77))
        client.send_and_wait("camera", frames[9], ns(10))
        client.wait_for(future.done, 30, "second remove_object reply")
        assert not future.result().success and "unknown object id 77" in future.result().message
    finally:
        client.close()
