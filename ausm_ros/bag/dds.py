"""The replay's own ROS node: publishes frames, prompts and /clock, and hears everything the perception node says.

Runs in its own rclpy context with a background executor thread, so the replay loop can
block on "has frame N's output arrived" while callbacks keep recording. Messages cross
as serialized CDR: frames go out byte-for-byte as stored in the bag, and what the node
publishes is recorded byte-for-byte, the way `ros2 bag play` / `ros2 bag record` do.
"""

import threading
import time

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CompressedImage, Image
from vision_msgs.msg import Detection2DArray

from ausm_ros.bag import layout, messages
from ausm_ros.bag.messages import typestore
from ausm_ros.msg import InstanceSegmentation, ObjectPrompt, PromptAck
from ausm_ros.srv import ResetStream

RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
# Reliable frames: nothing is lost on the way (a best-effort node subscription still matches).
FRAMES = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)


class DdsLink:
    def __init__(self, image_topic, image_msgtype, topics, record, diagnostics_name):
        """topics: layout.stream_topics(); record(topic, msgtype, raw, receive_ns) stores a received message;
        diagnostics_name: the DiagnosticStatus name of our stream ('<node>: <stream>')."""
        self.topics = topics
        self.diagnostics_name = diagnostics_name
        self._record = record
        self._cv = threading.Condition()
        self.outputs = {}  # stamp_ns -> [receive_ns, ...]
        self.last_output_ns = 0
        self.acks = []  # (receive_ns, PromptAck)
        self.diagnostics = []  # (receive_ns, {key: value}) of our stream
        self.subscriptions = []
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node("ausm_bag_replay", context=self.context)
        msg_class = CompressedImage if image_msgtype == layout.COMPRESSED_IMAGE else Image
        self.image_pub = self.node.create_publisher(msg_class, image_topic, FRAMES)
        self.prompt_pub = self.node.create_publisher(ObjectPrompt, topics["prompts"], RELIABLE)
        self.clock_pub = None  # only for nodes on sim time: other nodes may be listening to /clock
        self._subscribe(InstanceSegmentation, topics["instances"], layout.INSTANCES, self._on_instances)
        self._subscribe(Detection2DArray, topics["detections"], layout.DETECTIONS, None)
        self._subscribe(PromptAck, topics["prompt_ack"], layout.PROMPT_ACK, self._on_ack)
        self._subscribe(DiagnosticArray, topics["diagnostics"], layout.DIAGNOSTICS, self._on_diagnostics)
        self.reset_client = self.node.create_client(ResetStream, topics["reset_stream"])
        self._executor = SingleThreadedExecutor(context=self.context)
        self._executor.add_node(self.node)
        self._spinning = True
        self._thread = threading.Thread(target=self._spin, name="ausm-bag-replay-dds", daemon=True)
        self._thread.start()

    # -- receiving -----------------------------------------------------------------------------
    def _subscribe(self, msg_class, topic, msgtype, handler):
        def callback(raw, topic=topic, msgtype=msgtype, handler=handler):
            now = time.time_ns()
            self._record(topic, msgtype, raw, now)
            if handler is not None:
                handler(typestore().deserialize_cdr(raw, msgtype), now)

        self.subscriptions.append(self.node.create_subscription(msg_class, topic, callback, RELIABLE, raw=True))

    def _on_instances(self, msg, now):
        with self._cv:
            self.outputs.setdefault(messages.stamp_ns(msg.header.stamp), []).append(now)
            self.last_output_ns = now
            self._cv.notify_all()

    def _on_ack(self, msg, now):
        with self._cv:
            self.acks.append((now, msg))
            self._cv.notify_all()

    def _on_diagnostics(self, msg, now):
        for status in msg.status:
            if status.name == self.diagnostics_name:
                with self._cv:
                    self.diagnostics.append((now, {kv.key: kv.value for kv in status.values}))
                    self._cv.notify_all()

    def _spin(self):
        while self._spinning and self.context.ok():
            self._executor.spin_once(timeout_sec=0.05)

    def wait(self, condition, timeout):
        """Block until condition() (called under the lock) holds; False on timeout."""
        with self._cv:
            return self._cv.wait_for(condition, timeout)

    def output_after(self, stamp_ns, after_ns):
        """Receive time of an output for this stamp that arrived after after_ns (None if none yet)."""
        return next((t for t in self.outputs.get(stamp_ns, ()) if t >= after_ns), None)

    def diagnostics_after(self, after_ns):
        return [d for t, d in self.diagnostics if t > after_ns]

    # -- sending -------------------------------------------------------------------------------
    def connected(self):
        """The perception node subscribes to our frames and prompts, and publishes outputs we hear."""
        inst = next(s for s in self.subscriptions if s.topic_name == self.topics["instances"])
        return (
            self.image_pub.get_subscription_count() > 0
            and self.prompt_pub.get_subscription_count() > 0
            and inst.get_publisher_count() > 0
        )

    def publish_frame(self, raw):
        self.image_pub.publish(bytes(raw))
        return time.time_ns()

    def publish_prompt(self, raw):
        self.prompt_pub.publish(bytes(raw))
        return time.time_ns()

    def start_clock(self):
        if self.clock_pub is None:
            self.clock_pub = self.node.create_publisher(Clock, "/clock", 10)

    def publish_clock(self, ns):
        if self.clock_pub is not None:
            sec, nanosec = divmod(int(ns), messages.NS)
            msg = Clock()
            msg.clock.sec, msg.clock.nanosec = sec, nanosec
            self.clock_pub.publish(msg)

    def reset_stream(self, stream, timeout):
        """Ask the node to forget the stream; (success, message)."""
        if not self.reset_client.wait_for_service(timeout_sec=timeout):
            return False, f"service {self.topics['reset_stream']} not available"
        future = self.reset_client.call_async(ResetStream.Request(stream=stream))
        deadline = time.monotonic() + timeout
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not future.done():
            return False, "reset_stream did not answer"
        return future.result().success, future.result().message

    def node_parameters(self, node_name, names, timeout=5.0):
        """Values of the perception node's parameters via its parameter service ({} if unreachable)."""
        from rcl_interfaces.srv import GetParameters

        client = self.node.create_client(GetParameters, f"/{node_name.strip('/')}/get_parameters")
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                return {}
            future = client.call_async(GetParameters.Request(names=list(names)))
            deadline = time.monotonic() + timeout
            while not future.done() and time.monotonic() < deadline:
                time.sleep(0.01)
            if not future.done():
                return {}
            fields = {
                1: "bool_value",
                2: "integer_value",
                3: "double_value",
                4: "string_value",
                9: "string_array_value",
            }
            out = {}
            for name, value in zip(names, future.result().values):
                if value.type in fields:
                    v = getattr(value, fields[value.type])
                    out[name] = list(v) if value.type == 9 else v
            return out
        finally:
            self.node.destroy_client(client)

    def close(self):
        self._spinning = False
        self._thread.join(timeout=5)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
