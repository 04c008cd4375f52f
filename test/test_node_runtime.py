"""The node while running: parameters applied or refused, late frames dropped instead of resets,
fixed diagnostics keys with windowed levels, loss from stamp gaps, compressed sizes checked first."""

import time

import cv2
import numpy as np
import pytest

pytest.importorskip("ausm_ros.msg")  # the ROS 2 environment (see conftest.py)
from ausm_ros.srv import ResetStream
from builtin_interfaces.msg import Time
from helpers.node import assert_same, direct_results, moving_disc, ns
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import Header

from bench.node_client import RELIABLE, Client, rgb_image

pytestmark = [pytest.mark.ros, pytest.mark.subprocess]


def _value(value):
    if isinstance(value, bool):
        return ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value)
    if isinstance(value, int):
        return ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)
    if isinstance(value, float):
        return ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
    return ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)


def set_parameters(client, service, **values):
    request = SetParameters.Request(parameters=[Parameter(name=k, value=_value(v)) for k, v in values.items()])
    return client.call(service, request).results


def test_model_parameters_apply_at_run_time_or_are_refused(ros_env, node):
    node()
    client = Client(ros_env)
    service = client.node.create_client(SetParameters, "/ausm_perception/set_parameters")
    reset = client.node.create_client(ResetStream, "/reset_stream")
    frames = moving_disc(12, seed=8)
    try:
        client.wait_for_node()
        with_discovery = [
            len(client.send_and_wait("camera", f, ns(1 + i)).detections) for i, f in enumerate(frames[:3])
        ]
        assert sum(with_discovery) > 0, "the test needs a model that discovers something at the defaults"

        (result,) = set_parameters(client, service, discovery=False)
        assert result.successful, result.reason
        assert client.call(reset, ResetStream.Request(stream="camera")).success
        quiet = [client.send_and_wait("camera", f, ns(4 + i)) for i, f in enumerate(frames[3:6])]
        assert all(len(m.detections) == 0 for m in quiet), "discovery:=false was not applied"

        (a, b) = set_parameters(client, service, discovery=True, foreground_threshold=1.0)
        assert a.successful and b.successful
        quiet = [client.send_and_wait("camera", f, ns(7 + i)) for i, f in enumerate(frames[6:8])]
        assert all(len(m.detections) == 0 for m in quiet), "foreground_threshold:=1.0 was not applied"
        (result,) = set_parameters(client, service, foreground_threshold=0.5)
        assert result.successful
        again = [len(client.send_and_wait("camera", f, ns(9 + i)).detections) for i, f in enumerate(frames[8:11])]
        assert sum(again) > 0

        # Refused with the reason, never accepted and ignored.
        (result,) = set_parameters(client, service, backend="onnxruntime")
        assert not result.successful and "restart" in result.reason, result
        (result,) = set_parameters(client, service, foreground_threshold=1.5)
        assert not result.successful and "[0, 1]" in result.reason, result
        (result,) = set_parameters(client, service, box_cut="grabcut")
        assert not result.successful and "learned, colour, box" in result.reason, result
        (result,) = set_parameters(client, service, box_cut="colour")
        assert result.successful, result.reason
        (result,) = set_parameters(client, service, image_topics="/other/image_raw")
        assert not result.successful and "restart" in result.reason, result
    finally:
        client.close()


def _compressed_bomb(t):
    """A small valid JPEG whose frame header declares 20000x20000 pixels."""
    ok, jpeg = cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))
    data = bytearray(jpeg.tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (20000).to_bytes(2, "big") * 2
    return CompressedImage(
        header=Header(stamp=Time(sec=t // 10**9, nanosec=t % 10**9), frame_id="cam"), format="jpeg", data=bytes(data)
    )


def _peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def test_late_frames_glitches_diagnostics_and_compressed_sizes(ros_env, checkpoint, node):
    proc = node(
        "compressed_image_topics:=['/cam2/image_raw/compressed']",
        "diagnostics_window_sec:=3.0",
        "image_qos_reliable:=true",
        "image_qos_depth:=100",
    )
    client = Client(
        ros_env, streams=("camera", "cam2"), image_topics={"camera": "/camera/image_raw"}, reliable_images=True
    )
    compressed = client.node.create_publisher(CompressedImage, "/cam2/image_raw/compressed", RELIABLE)
    frames = moving_disc(40, seed=9)
    try:
        client.wait_for_node("camera")
        client.wait_for(lambda: compressed.get_subscription_count() > 0, 30, "compressed subscription")
        # A 1 Hz camera. One frame 0.3 s late: dropped and counted, never a reset.
        sent = [client.send_and_wait("camera", frames[i], ns(210 + i)) for i in range(6)]
        client.image_pubs["camera"].publish(rgb_image(frames[6], ns(214.7)))
        sent.append(client.send_and_wait("camera", frames[7], ns(216)))
        assert_same(sent, direct_results(checkpoint, frames[:6] + frames[7:8]))
        with client.lock:
            assert not any(m.header.stamp == Time(sec=214, nanosec=700_000_000) for m in client.instances["camera"])
        # Two frames missing from the stamps (217, 218): loss before the node.
        client.send_and_wait("camera", frames[8], ns(219))
        # One glitched stamp 100 s back, then the old timeline: one reset, not two.
        client.send_and_wait("camera", frames[9], ns(119.5))
        client.send_and_wait("camera", frames[10], ns(220))
        _, _, values = client.wait_for_diagnostics(
            lambda level, message, values: int(values["frames_processed"]) >= 10, 10, "diagnostics of the frames"
        )
        assert int(values["late_frames"]) == 1, values
        assert int(values["resets"]) == 1 and int(values["resets: time jump"]) == 1, values
        assert int(values["lost_before_node (stamp gaps)"]) == 2, values

        # Forty different bad sizes: counted under one fixed key, the detail in a value.
        keys_before = set(values)
        for width in range(40):
            bad = rgb_image(np.zeros((4, 8 + width, 3), np.uint8), ns(220.5))
            bad.data = bytes(bad.data)[:10]
            client.image_pubs["camera"].publish(bad)
        # Another kind of error right behind them: logs are throttled per kind, so it is not hidden.
        other = rgb_image(np.zeros((4, 8, 3), np.uint8), ns(220.5))
        other.encoding = "yuv422"
        client.image_pubs["camera"].publish(other)
        level, message, values = client.wait_for_diagnostics(
            lambda level, message, values: int(values["invalid_inputs"]) >= 41, 10, "41 invalid inputs"
        )
        assert set(values) == keys_before, set(values) ^ keys_before
        assert int(values["invalid: bad image layout"]) == 40 and "yuv422" in values["last_invalid"], values
        assert level == 1 and "invalid inputs" in message
        log = proc.log_path.read_text()
        assert "image rejected: data holds" in log and "image rejected: unsupported encoding 'yuv422'" in log, log

        # A 20000x20000 JPEG is refused from its header, before any decoding.
        compressed.publish(_compressed_bomb(ns(1)))
        _, _, cam2 = client.wait_for_diagnostics(
            lambda level, message, values: int(values["invalid: bad image size"]) >= 1, 10, "bomb refused", "cam2"
        )
        assert "20000x20000" in cam2["last_invalid"], cam2
        assert _peak_rss_mib(proc.pid) < 1500, f"node peak RSS {_peak_rss_mib(proc.pid):.0f} MiB"

        # Levels judge the recent window: clean frames bring the stream back to OK.
        deadline, t = time.monotonic() + 20, 221
        while time.monotonic() < deadline:
            client.send_and_wait("camera", frames[11 + (t % 29)], ns(t))
            t += 1
            report = client.diagnostics_of("camera")
            if report and report[0] == 0 and int(report[2]["frames_processed"]) > 12:
                break
        level, message, _ = client.diagnostics_of("camera")
        assert level == 0 and message == "ok", message
    finally:
        client.close()
