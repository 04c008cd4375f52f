"""Run the perception node as its own process and talk to it over DDS, as a robot would.

Used by the node tests (``from bench.node_client import Client``) and by bench/node_latency.py
and bench/node_soak.py; not part of the installed packages.
"""

import os
import subprocess
import sys
import threading
import time

import numpy as np
import rclpy
from ausm_ros.msg import InstanceSegmentation, PromptAck
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray

RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)


def start_node(ros_env, checkpoint, params=(), log_path=None):
    """The node in a separate process, parameters as `-p name:=value` strings.
    torch backend unless overridden: tests compare against StreamSession bit for bit."""
    args = [
        sys.executable,
        "-m",
        "ausm_ros.perception_main",
        "--ros-args",
        "-p",
        f"checkpoint:={checkpoint}",
        "-p",
        "device:=cpu",
        "-p",
        "num_threads:=1",
        "-p",
        "backend:=torch",
    ]
    for p in params:
        args += ["-p", p]
    out = open(log_path, "w") if log_path else subprocess.DEVNULL
    return subprocess.Popen(args, env=ros_env, stdout=out, stderr=subprocess.STDOUT)


def stop_node(proc):
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def rgb_image(rgb, stamp_ns, frame_id="cam"):
    h, w = rgb.shape[:2]
    header = Header(stamp=Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9), frame_id=frame_id)
    return Image(
        header=header,
        height=h,
        width=w,
        encoding="rgb8",
        step=w * 3,
        data=np.ascontiguousarray(rgb, dtype=np.uint8).tobytes(),
    )


class Client:
    """A node in the test process that publishes camera frames and records the node's outputs."""

    def __init__(self, ros_env, streams=("camera",), image_topics=None, reliable_images=False):
        os.environ["ROS_DOMAIN_ID"] = ros_env["ROS_DOMAIN_ID"]
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = ros_env["ROS_AUTOMATIC_DISCOVERY_RANGE"]
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node("ausm_test_client", context=self.context)
        self.lock = threading.RLock()  # re-entrant: conditions may call the helpers below
        self.instances = {s: [] for s in streams}
        self.detections = {s: [] for s in streams}
        self.acks = []
        self.diagnostics = []
        image_topics = image_topics or {s: f"/{s}/image_raw" for s in streams}
        image_qos = RELIABLE if reliable_images else qos_profile_sensor_data
        # Best effort may lose a frame, so send_and_wait resends; reliable never loses one,
        # and a resend there would step the stream twice on one frame.
        self.resend_after = None if reliable_images else 2.0
        self.image_pubs = {s: self.node.create_publisher(Image, t, image_qos) for s, t in image_topics.items()}
        for s in streams:
            self.node.create_subscription(
                InstanceSegmentation, f"/{s}/instances", lambda m, s=s: self._keep(self.instances[s], m), RELIABLE
            )
            self.node.create_subscription(
                Detection2DArray, f"/{s}/detections", lambda m, s=s: self._keep(self.detections[s], m), RELIABLE
            )
        self.node.create_subscription(
            PromptAck,
            "/prompt_ack",
            lambda m: self._keep(self.acks, m),
            QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE),
        )
        self.node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: self._keep(self.diagnostics, m), 10)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._spinning = True
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _keep(self, bucket, msg):
        with self.lock:
            bucket.append(msg)

    def _spin(self):
        while self._spinning and self.context.ok():
            self.executor.spin_once(timeout_sec=0.05)

    def wait_for(self, condition, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if condition():
                    return
            time.sleep(0.02)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def wait_for_node(self, stream="camera", timeout=120):
        """Until the node subscribes to our images (it has loaded its model by then)."""
        pub = self.image_pubs[stream]
        self.wait_for(lambda: pub.get_subscription_count() > 0, timeout, "the node's image subscription")

    def send_and_wait(self, stream, rgb, stamp_ns, frame_id="cam", timeout=30):
        """Publish one frame and wait for the node's output with that stamp (resending if lost)."""
        msg = rgb_image(rgb, stamp_ns, frame_id)
        want = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.image_pubs[stream].publish(msg)
            try:
                self.wait_for(
                    lambda: any((m.header.stamp.sec, m.header.stamp.nanosec) == want for m in self.instances[stream]),
                    self.resend_after or max(0.0, deadline - time.monotonic()),
                    "output",
                )
                with self.lock:
                    return next(
                        m for m in self.instances[stream] if (m.header.stamp.sec, m.header.stamp.nanosec) == want
                    )
            except AssertionError:
                continue
        raise AssertionError(f"no output for the frame stamped {stamp_ns} on stream {stream}")

    def diagnostics_of(self, stream="camera"):
        """(level, message, values) of the newest diagnostics report for a stream, or None."""
        with self.lock:
            for array in reversed(self.diagnostics):
                for status in array.status:
                    if status.name.split(": ")[-1] == stream:
                        return (
                            status.level[0] if isinstance(status.level, bytes) else status.level,
                            status.message,
                            {kv.key: kv.value for kv in status.values},
                        )
        return None

    def wait_for_diagnostics(self, condition, timeout, what, stream="camera"):
        """Until the newest report for ``stream`` satisfies condition(level, message, values)."""

        def check():
            report = self.diagnostics_of(stream)
            return report is not None and condition(*report)

        try:
            self.wait_for(check, timeout, what)
        except AssertionError as error:
            raise AssertionError(f"{error}; last report: {self.diagnostics_of(stream)}") from None
        return self.diagnostics_of(stream)

    def call(self, client, request, timeout=30):
        """A service call from the test; its response."""
        assert client.wait_for_service(timeout_sec=timeout), f"service {client.srv_name} not available"
        future = client.call_async(request)
        self.wait_for(future.done, timeout, f"reply of {client.srv_name}")
        return future.result()

    def close(self):
        self._spinning = False
        self._thread.join(timeout=5)
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
