"""With the shipped checkpoint, a prompt mid-stream starts a track with the requested id that follows its object."""

import time

import numpy as np
import pytest

pytest.importorskip("ausm_ros.msg")  # the ROS 2 environment (see conftest.py)
from ausm_ros.msg import ObjectPrompt, PromptAck
from helpers.node import decode_masks, ns, prompt
from std_msgs.msg import Header

from ausm.runtimes import resolve_checkpoint
from ausm_ros.image_conversion import mono8_to_image
from ausm_train.synthetic import SyntheticConfig, generate_video
from bench.node_client import RELIABLE, Client, start_node, stop_node

pytestmark = [pytest.mark.ros, pytest.mark.subprocess]


def iou(a, b):
    union = np.logical_or(a, b).sum()
    return np.logical_and(a, b).sum() / union if union else 1.0


@pytest.fixture
def demo_node(ros_env, tmp_path):
    proc = start_node(
        ros_env,
        resolve_checkpoint(""),
        ["discovery:=false", "release_after_frames:=1000"],
        log_path=tmp_path / "node.log",
    )
    yield
    stop_node(proc)


def test_prompt_mid_stream_follows_the_object(ros_env, demo_node):
    # A held-out video (training uses seed 0) at the model's own 4:3 input size; its largest
    # object, prompted at frame 4.
    clip = generate_video(
        SyntheticConfig(height=96, width=128, num_frames=16, min_objects=2, max_objects=3), seed=4242, index=0
    )
    start = 4
    areas = clip.masks[:, start].reshape(len(clip.masks), -1).sum(1)
    target = int(np.argmax(areas))
    assert areas[target] > 50, "fixture video has no visible object at the prompt frame"
    client = Client(ros_env)
    pub = client.node.create_publisher(ObjectPrompt, "/prompts", RELIABLE)
    try:
        client.wait_for_node()
        client.wait_for(lambda: pub.get_subscription_count() > 0, 30, "prompt subscription")
        for t in range(start):
            client.send_and_wait("camera", clip.frames[t], ns(1 + t))
        msg = prompt(21, ns(1 + start), object_id=4242)
        msg.mask = mono8_to_image(clip.masks[target, start].astype(np.uint8) * 255, Header())
        pub.publish(msg)
        time.sleep(0.5)
        ious = []
        for t in range(start, len(clip.frames)):
            out = client.send_and_wait("camera", clip.frames[t], ns(1 + t))
            gt = clip.masks[target, t]
            if gt.sum() > 30:  # score only frames where the object is really visible
                ious.append(iou(decode_masks(out).get(4242, np.zeros_like(gt)), gt))
        with client.lock:
            ack = next(a for a in client.acks if a.prompt_id == 21)
        assert ack.status == PromptAck.APPLIED and ack.object_id == 4242
        assert len(ious) >= 6
        assert np.mean(ious) > 0.6 and np.median(ious) > 0.6, f"per-frame IoU of track 4242: {np.round(ious, 2)}"
    finally:
        client.close()
