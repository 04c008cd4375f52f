"""The AUSM perception node: camera topics in, masks and tracks out, prompts from a planner.

Thin on purpose: message conversion lives in image_conversion / prompt_conversion /
result_messages, per-stream inference and state in stream_worker, the model in ausm.

Not a lifecycle (managed) node: it must start producing output from a plain
`ros2 launch` or bag replay with no lifecycle manager around it, and it holds no
hardware that needs an orderly hand-over. Streams are reset with the reset_stream
service or a RESET prompt instead of a deactivate/activate cycle.
"""
import re
import time

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PointStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, LabelInfo

from ausm.prompts import PromptAction
from ausm.session import SessionSettings
from ausm_ros import result_messages
from ausm_ros.model_loading import ModelHandle, resolve_backend, resolve_checkpoint, resolve_device
from ausm_ros.msg import InstanceSegmentation, ObjectPrompt, PromptAck
from ausm_ros.prompt_conversion import (PendingPrompt, PromptError, from_box_detections, from_click,
                                        from_object_prompt)
from ausm_ros.srv import AddObject, RemoveObject, ResetStream
from ausm_ros.stream_worker import Applied, StreamWorker, WorkerSettings

# Prompts and their acks come in bursts (a planner re-prompting every object); with a
# shallow keep-last history a burst would overwrite prompts or acks before delivery.
PROMPT_QOS = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
_TOPIC_SUFFIXES = {"compressed", "image_raw", "image_rect", "image_color", "image_rect_color", "image", "rgb"}

PARAMETERS = {
    "image_topics": ["/camera/image_raw"],
    "compressed_image_topics": [""],
    "stream_names": [""],
    "image_qos_depth": 1,
    "image_qos_reliable": False,
    "checkpoint": "",
    "backend": "auto",
    "device": "auto",
    "onnx_file": "",
    "cache_dir": "",
    "force_rebuild": False,
    "build_only": False,
    "input_size": [0, 0],
    "num_threads": 0,
    "discovery": True,
    "foreground_threshold": 0.5,
    "top_k": 10,
    "release_after_frames": 30,
    "reset_on_gap_sec": 5.0,
    "publish_label_image": True,
    "overlay_alpha": 0.5,
    "diagnostics_period_sec": 1.0,
    "service_timeout_sec": 5.0,
    "log_throttle_sec": 2.0,
}


def stream_name_from_topic(topic, index):
    """'/front/image_raw/compressed' -> 'front'; falls back to camera<index>."""
    parts = [p for p in topic.strip("/").split("/") if p]
    while parts and parts[-1] in _TOPIC_SUFFIXES:
        parts.pop()
    name = re.sub(r"[^A-Za-z0-9_]", "_", "_".join(parts))
    if not name or not re.match(r"[A-Za-z]", name):
        name = f"camera{index}"
    return name


class PerceptionNode(Node):
    def __init__(self, **kwargs):
        super().__init__("ausm_perception", **kwargs)
        for name, default in PARAMETERS.items():
            self.declare_parameter(name, default)
        p = {name: self.get_parameter(name).value for name in PARAMETERS}
        self.params = p
        self._last_log = {}

        backend = resolve_backend(p["backend"], self.get_logger().warning, p["device"])
        device = resolve_device(p["device"])
        checkpoint = resolve_checkpoint(p["checkpoint"])
        self.model = ModelHandle(checkpoint, device, p["num_threads"], backend=backend,
                                 onnx_file=p["onnx_file"], cache_dir=p["cache_dir"],
                                 force_rebuild=p["force_rebuild"], input_size=p["input_size"],
                                 build_only=p["build_only"], warn=self.get_logger().warning)
        if p["build_only"]:
            self.get_logger().info(f"build_only: engine at {self.model.engine_path}; exiting")
            raise SystemExit(0)
        self.backend = f"{backend}/{self.model.device}"
        self.get_logger().info(f"model {self.model.config.name} from {checkpoint} on {self.backend}")

        settings = SessionSettings(discovery=p["discovery"], score_threshold=p["foreground_threshold"],
                                   top_k=p["top_k"], max_absent_frames=p["release_after_frames"])
        image_qos = QoSProfile(
            depth=max(1, p["image_qos_depth"]), history=HistoryPolicy.KEEP_LAST,
            reliability=ReliabilityPolicy.RELIABLE if p["image_qos_reliable"] else ReliabilityPolicy.BEST_EFFORT)
        topics = [(t, False) for t in p["image_topics"] if t] + [(t, True) for t in p["compressed_image_topics"] if t]
        if not topics:
            raise ValueError("no camera topics: set image_topics or compressed_image_topics")
        names = [n for n in p["stream_names"] if n]
        if names and len(names) != len(topics):
            raise ValueError(f"stream_names has {len(names)} entries for {len(topics)} camera topics")
        names = names or [stream_name_from_topic(t, i) for i, (t, _) in enumerate(topics)]
        if len(set(names)) != len(names):
            raise ValueError(f"stream names must be unique, got {names}; set stream_names")

        self._topic_group = ReentrantCallbackGroup()
        self._service_group = MutuallyExclusiveCallbackGroup()
        self.streams = {}
        self._outputs = {}
        for name, (topic, compressed) in zip(names, topics):
            self._add_stream(name, topic, compressed, image_qos, settings)

        self._ack_pub = self.create_publisher(PromptAck, "prompt_ack", PROMPT_QOS)
        self.create_subscription(ObjectPrompt, "prompts", self._on_prompt, PROMPT_QOS,
                                 callback_group=self._topic_group)
        self.create_service(AddObject, "add_object", self._on_add_object, callback_group=self._service_group)
        self.create_service(RemoveObject, "remove_object", self._on_remove_object, callback_group=self._service_group)
        self.create_service(ResetStream, "reset_stream", self._on_reset_stream, callback_group=self._service_group)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(p["diagnostics_period_sec"], self._publish_diagnostics, callback_group=self._topic_group)
        for worker in self.streams.values():
            worker.start()
        self.get_logger().info("streams: " + ", ".join(
            f"{n} <- {t}{' (compressed)' if c else ''}" for n, (t, c) in zip(names, topics)))

    # -- setup -----------------------------------------------------------------------------
    def _add_stream(self, name, topic, compressed, image_qos, settings):
        outputs = {
            "detections": self.create_publisher(Detection2DArray, f"{name}/detections", 10),
            "instances": self.create_publisher(InstanceSegmentation, f"{name}/instances", 10),
            "labels": self.create_publisher(Image, f"{name}/labels", 10) if self.params["publish_label_image"] else None,
            "overlay": self.create_publisher(Image, f"{name}/overlay", 2),
        }
        if self.model.class_names:
            info_pub = self.create_publisher(LabelInfo, f"{name}/label_info", LATCHED)
            info_pub.publish(result_messages.label_info(Header(stamp=self.get_clock().now().to_msg()),
                                                        self.model.class_names, self.params["foreground_threshold"]))
            outputs["label_info"] = info_pub
        self._outputs[name] = outputs
        worker = StreamWorker(
            name, self.model.new_session(settings), self.model.class_names,
            publish=lambda *args, n=name: self._publish_result(n, *args),
            acknowledge=self._acknowledge, log=self._throttled_log,
            settings=WorkerSettings(reset_on_gap_sec=self.params["reset_on_gap_sec"]))
        self.streams[name] = worker
        msg_type = CompressedImage if compressed else Image
        self.create_subscription(msg_type, topic, lambda msg, w=worker, c=compressed: w.offer(msg, c), image_qos,
                                 callback_group=self._topic_group)
        self.create_subscription(Detection2DArray, f"{name}/prompt_boxes",
                                 lambda msg, n=name: self._on_boxes(n, msg), PROMPT_QOS, callback_group=self._topic_group)
        self.create_subscription(PointStamped, f"{name}/clicked_point",
                                 lambda msg, n=name: self._on_click(n, msg), PROMPT_QOS, callback_group=self._topic_group)

    # -- logging -----------------------------------------------------------------------------
    def _throttled_log(self, level, key, text):
        now = time.monotonic()
        if now - self._last_log.get(key, -1e9) < self.params["log_throttle_sec"]:
            return
        self._last_log[key] = now
        getattr(self.get_logger(), {"warn": "warning"}.get(level, level))(text)

    # -- outputs -----------------------------------------------------------------------------
    def _publish_result(self, name, header, rgb, result, prompted_ids, step_ms):
        out = self._outputs[name]
        names = self.model.class_names
        out["detections"].publish(result_messages.detection_array(result, header, names))
        out["instances"].publish(result_messages.instance_segmentation(result, header, names, prompted_ids))
        if out["labels"] is not None:
            out["labels"].publish(result_messages.label_image(result, header))
        if out["overlay"].get_subscription_count() > 0:
            out["overlay"].publish(result_messages.overlay_image(rgb, result, header, self.params["overlay_alpha"], names))
        latency_ms = (self.get_clock().now().nanoseconds - (header.stamp.sec * 10**9 + header.stamp.nanosec)) / 1e6
        worker = self.streams[name]
        worker.stats.frame_published(latency_ms, step_ms, len(result), worker.session.state_bytes())

    def _acknowledge(self, pending: PendingPrompt, outcome):
        if not self.context.ok():   # shutting down: nobody can hear it any more
            return
        ack = PromptAck(stream=pending.stream, prompt_id=pending.prompt_id, action=int(pending.action),
                        object_id=int(outcome.object_id), status=outcome.status, message=outcome.message)
        if outcome.header is not None and outcome.status != PromptAck.REJECTED:
            ack.header = outcome.header
        ack.requested_stamp.sec, ack.requested_stamp.nanosec = divmod(pending.stamp_ns, 10**9)
        self._ack_pub.publish(ack)

    def _reject(self, pending, reason):
        self._acknowledge(pending, Applied(PromptAck.REJECTED, pending.object_id or 0, reason))
        self._throttled_log("warn", "prompt", f"prompt {pending.prompt_id} ({pending.source}) rejected: {reason}")

    # -- prompts -------------------------------------------------------------------------------
    def _stream_for(self, name):
        if not name:
            if len(self.streams) == 1:
                return next(iter(self.streams.values()))
            raise PromptError(f"stream not named and this node has {len(self.streams)}: {sorted(self.streams)}")
        if name not in self.streams:
            raise PromptError(f"unknown stream '{name}' (streams: {', '.join(sorted(self.streams))})")
        return self.streams[name]

    def _on_prompt(self, msg):
        try:
            pending = from_object_prompt(msg)
            self._stream_for(pending.stream).submit(pending)
        except PromptError as error:
            self._reject(PendingPrompt(stream=msg.stream, prompt_id=msg.prompt_id, action=PromptAction.ADD,
                                       stamp_ns=0, object_id=msg.object_id or None), str(error))

    def _on_boxes(self, name, msg):
        try:
            prompts = from_box_detections(msg, name)
        except PromptError as error:
            self._throttled_log("warn", f"{name}:boxes", f"[{name}] box prompts rejected: {error}")
            self.streams[name].stats.invalid_input("bad box prompt")
            return
        for pending in prompts:
            self.streams[name].submit(pending)

    def _on_click(self, name, msg):
        try:
            self.streams[name].submit(from_click(msg, name))
        except PromptError as error:
            self._throttled_log("warn", f"{name}:click", f"[{name}] click rejected: {error}")
            self.streams[name].stats.invalid_input("bad click")

    def _wait(self, worker, pending):
        waiter = worker.submit(pending)
        if waiter.done.wait(self.params["service_timeout_sec"]):
            return waiter.outcome
        if worker.withdraw(waiter):
            return None
        waiter.done.wait()   # applied while we were withdrawing it
        return waiter.outcome

    def _on_add_object(self, request, response):
        try:
            pending = from_object_prompt(request.prompt, source="service")
            if pending.action not in (PromptAction.ADD, PromptAction.REFINE):
                raise PromptError("add_object takes ADD or REFINE prompts; use remove_object / reset_stream")
            outcome = self._wait(self._stream_for(pending.stream), pending)
        except PromptError as error:
            response.success, response.message = False, str(error)
            return response
        if outcome is None:
            response.success = False
            response.message = f"no frame arrived within {self.params['service_timeout_sec']} s; prompt withdrawn"
        else:
            response.success = outcome.status != PromptAck.REJECTED
            response.object_id = outcome.object_id
            response.message = outcome.message
        return response

    def _on_remove_object(self, request, response):
        try:
            worker = self._stream_for(request.stream)
            pending = PendingPrompt(stream=request.stream, prompt_id=0, action=PromptAction.REMOVE, stamp_ns=0,
                                    object_id=int(request.object_id) or None, source="service")
            if pending.object_id is None:
                raise PromptError("object_id 0 is not a track id")
            outcome = self._wait(worker, pending)
        except PromptError as error:
            response.success, response.message = False, str(error)
            return response
        response.success = outcome is not None and outcome.status != PromptAck.REJECTED
        response.message = "no frame arrived; not removed" if outcome is None else outcome.message
        return response

    def _on_reset_stream(self, request, response):
        try:
            targets = [self._stream_for(request.stream)] if request.stream else list(self.streams.values())
        except PromptError as error:
            response.success, response.message = False, str(error)
            return response
        for worker in targets:
            worker.request_reset("reset_stream service")
        response.success = True
        response.message = "reset " + ", ".join(w.name for w in targets)
        return response

    # -- diagnostics ------------------------------------------------------------------------------
    def _publish_diagnostics(self):
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        for name, worker in self.streams.items():
            s = worker.stats.snapshot()
            level, summary = DiagnosticStatus.OK, "ok"
            if s["frames_received"] == 0:
                level, summary = DiagnosticStatus.WARN, "no images received yet"
            elif s["invalid_inputs"] or s["resets"]:
                level = DiagnosticStatus.WARN
                summary = f"{s['invalid_inputs']} invalid inputs, {s['resets']} resets"
            values = {k: v for k, v in s.items() if k != "invalid_by_reason"}
            values["backend"] = self.backend
            values.update({f"invalid: {k}": v for k, v in s["invalid_by_reason"].items()})
            array.status.append(DiagnosticStatus(
                level=level, name=f"{self.get_name()}: {name}", message=summary, hardware_id=self.backend,
                values=[KeyValue(key=k, value=f"{v:.3f}" if isinstance(v, float) else str(v))
                        for k, v in values.items()]))
        self._diag_pub.publish(array)

    def destroy_node(self):
        # getattr: __init__ may have failed before the streams existed; keep its error visible.
        for worker in getattr(self, "streams", {}).values():
            worker.reject_all_prompts("node shutting down")
            worker.stop()
        return super().destroy_node()


def main(args=None):
    rclpy.init(args=args)
    node = None
    try:
        node = PerceptionNode()
        executor = rclpy.executors.MultiThreadedExecutor(num_threads=4)
        executor.add_node(node)
        while rclpy.ok():
            try:
                executor.spin_once(timeout_sec=0.5)
            except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
                raise
            except Exception as error:  # noqa: BLE001 - e.g. rclpy's own /clock callback on a bad time
                node._throttled_log("error", "callback", f"a callback failed, node continues: {error!r}")
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
