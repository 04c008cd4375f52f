"""The node as started by users: plain-string topics, a GPU request without a GPU, one-line
configuration errors with a non-zero exit, one inference thread by default, the input fit logged."""

import subprocess
import sys

import pytest

pytest.importorskip("ausm_ros.msg")  # the ROS 2 environment (see conftest.py)
from helpers.node import moving_disc, ns

from bench.node_client import Client

pytestmark = [pytest.mark.ros, pytest.mark.subprocess]


def test_plain_string_topic_cuda_fallback_and_thread_default(ros_env, node):
    # num_threads:=0 (the default) after the harness's 1; device cuda on a machine without CUDA.
    proc = node("image_topics:=/cam/image_raw", "device:=cuda", "num_threads:=0")
    client = Client(ros_env, streams=("cam",))
    try:
        client.wait_for_node("cam")
        out = client.send_and_wait("cam", moving_disc(1, seed=1)[0], ns(1))
        assert (out.image_width, out.image_height) == (160, 120)
        _, _, values = client.wait_for_diagnostics(lambda level, message, values: True, 10, "diagnostics", "cam")
        assert values["inference_threads"] == "1", values
        assert proc.poll() is None
    finally:
        client.close()
    log = proc.log_path.read_text()
    import torch

    if not torch.cuda.is_available():
        assert "falling back to 'cpu'" in log, log
    assert "model input" in log and "camera image" in log, log


def _run_node(ros_env, checkpoint, *params):
    args = [
        sys.executable,
        "-m",
        "ausm_ros.perception_main",
        "--ros-args",
        "-p",
        f"checkpoint:={checkpoint}",
        "-p",
        "backend:=torch",
    ]
    for p in params:
        args += ["-p", p]
    return subprocess.run(args, env=ros_env, capture_output=True, text=True, timeout=120)


def test_configuration_errors_are_one_line_and_a_nonzero_exit(ros_env, checkpoint):
    for params, words in (
        (("foreground_threshold:=2.0",), "foreground_threshold"),
        (("checkpoint:=/nonexistent/model.safetensors",), "does not exist"),
        (("stream_names:=['a', 'b']",), "stream_names"),
    ):
        done = _run_node(ros_env, checkpoint, *params)
        output = done.stdout + done.stderr
        assert done.returncode not in (0, None), output
        assert "Traceback" not in output, output
        errors = [line for line in output.splitlines() if "cannot start" in line]
        assert len(errors) == 1 and words in errors[0], output
