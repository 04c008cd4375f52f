"""Tracks survive node restarts: save_state / load_state services, a snapshot on shutdown and a
restore on start, and track ids that never repeat ones used before the restart."""

import time

import pytest

pytest.importorskip("ausm_ros.msg")  # the ROS 2 environment (see conftest.py)
from ausm_ros.msg import ObjectPrompt, PromptAck
from ausm_ros.srv import LoadState, SaveState
from helpers.node import moving_disc, ns, prompt

from bench.node_client import RELIABLE, Client, stop_node

pytestmark = [pytest.mark.ros, pytest.mark.subprocess]


class Session:
    """A client for one node process, with the prompt helpers this test needs."""

    def __init__(self, ros_env):
        self.client = Client(ros_env)
        self.prompts = self.client.node.create_publisher(ObjectPrompt, "/prompts", RELIABLE)
        self.client.wait_for_node()
        self.client.wait_for(lambda: self.prompts.get_subscription_count() > 0, 30, "prompt subscription")

    def frame(self, frame, t):
        return self.client.send_and_wait("camera", frame, ns(t))

    def prompt(self, msg, frame, t):
        """Publish a prompt, let a frame take it, return its ack."""
        self.prompts.publish(msg)
        time.sleep(0.5)  # the reliable prompt arrives before the frame
        self.frame(frame, t)
        self.client.wait_for(
            lambda: any(a.prompt_id == msg.prompt_id for a in self.client.acks), 15, f"ack of {msg.prompt_id}"
        )
        with self.client.lock:
            return next(a for a in self.client.acks if a.prompt_id == msg.prompt_id)

    def call(self, srv_type, name, request):
        return self.client.call(self.client.node.create_client(srv_type, name), request)


def test_tracks_and_ids_survive_restarts(ros_env, node, tmp_path):
    state_dir, manual = tmp_path / "state", tmp_path / "manual"
    frames = moving_disc(10, seed=13)
    common = (f"state_dir:={state_dir}", "discovery:=false")
    box = (20, 30, 60, 70)

    first = node(*common, "save_state_on_shutdown:=true", log_name="first.log")
    s = Session(ros_env)
    try:
        s.frame(frames[0], 1)
        a = s.prompt(prompt(41, 0, box=box), frames[1], 2)
        assert a.status == PromptAck.APPLIED
        saved = s.call(SaveState, "/save_state", SaveState.Request(directory=str(manual)))
        assert saved.success and saved.files == [str(manual / "camera.safetensors")], saved
        b = s.prompt(prompt(42, 0, box=(80, 20, 120, 60)), frames[2], 3)
        assert b.status == PromptAck.APPLIED and b.object_id > a.object_id
    finally:
        s.client.close()
    stop_node(first)  # SIGTERM: the shutdown snapshot goes to state_dir
    assert (state_dir / "camera.safetensors").is_file(), first.log_path.read_text()

    # Restore the older snapshot (A only) by service: A continues, and new ids still skip B.
    second = node(*common, log_name="second.log")
    s = Session(ros_env)
    try:
        loaded = s.call(LoadState, "/load_state", LoadState.Request(directory=str(manual)))
        assert loaded.success and loaded.files == [str(manual / "camera.safetensors")], loaded
        s.frame(frames[3], 4)
        assert (
            s.prompt(prompt(43, 0, action=ObjectPrompt.REFINE, object_id=a.object_id, box=box), frames[4], 5).status
            == PromptAck.APPLIED
        )
        missing = s.prompt(prompt(44, 0, action=ObjectPrompt.REFINE, object_id=b.object_id, box=box), frames[5], 6)
        assert missing.status == PromptAck.REJECTED
        c = s.prompt(prompt(45, 0, box=(90, 60, 130, 100)), frames[6], 7)
        assert c.status == PromptAck.APPLIED and c.object_id > b.object_id, (c, b)
        bad = s.call(LoadState, "/load_state", LoadState.Request(directory=str(tmp_path / "nothing")))
        assert not bad.success and "no snapshot" in bad.message
    finally:
        s.client.close()
    stop_node(second)

    # Restore on start from the shutdown snapshot: A and B continue, new ids skip C.
    node(*common, "load_state_on_start:=true", log_name="third.log")
    s = Session(ros_env)
    try:
        s.frame(frames[7], 8)
        assert (
            s.prompt(prompt(46, 0, action=ObjectPrompt.REFINE, object_id=b.object_id, box=box), frames[8], 9).status
            == PromptAck.APPLIED
        )
        d = s.prompt(prompt(47, 0, box=(90, 60, 130, 100)), frames[9], 10)
        assert d.status == PromptAck.APPLIED and d.object_id > c.object_id, (d, c)
    finally:
        s.client.close()
