"""The AUSM perception node: camera topics in, masks and tracks out, prompts from a planner.

Thin on purpose: message conversion lives in image_conversion / prompt_conversion /
result_messages, per-stream inference and state in stream_worker, the model in ausm.

Not a lifecycle (managed) node: it must start producing output from a plain
`ros2 launch` or bag replay with no lifecycle manager around it, and it holds no
hardware that needs an orderly hand-over. Streams are reset with the reset_stream
service or a RESET prompt instead of a deactivate/activate cycle.
"""

import os
import re
import threading
import time

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PointStamped
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.exceptions import InvalidParameterTypeException, ParameterException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, LabelInfo

from ausm import runtimes
from ausm.prompts import PromptAction
from ausm.session import BOX_CUTS, SessionSettings
from ausm_ros import result_messages
from ausm_ros.msg import InstanceSegmentation, ObjectPrompt, PromptAck
from ausm_ros.node_config import PARAMETERS, STRING_LISTS, ConfigError, as_string_list
from ausm_ros.prompt_conversion import (
    PendingPrompt,
    PromptError,
    from_box_detections,
    from_click,
    from_object_prompt,
    stamp_ns,
)
from ausm_ros.srv import AddObject, LoadState, RemoveObject, ResetStream, SaveState
from ausm_ros.stream_stats import StreamStats
from ausm_ros.stream_worker import Applied, StreamWorker, WorkerSettings

# Prompts and their acks come in bursts (a planner re-prompting every object); with a
# shallow keep-last history a burst would overwrite prompts or acks before delivery.
PROMPT_QOS = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
_TOPIC_SUFFIXES = {"compressed", "image_raw", "image_rect", "image_color", "image_rect_color", "image", "rgb"}
_ACK_SOURCES = {
    "topic": PromptAck.SOURCE_TOPIC,
    "service": PromptAck.SOURCE_SERVICE,
    "boxes": PromptAck.SOURCE_BOXES,
    "click": PromptAck.SOURCE_CLICK,
}

# Parameters that take effect while the node runs (set_parameters); all others are read
# once at start, and changing them is refused with that reason rather than ignored. The
# session ones are SessionSettings fields of the same names.
_SESSION_PARAMETERS = ("discovery", "foreground_threshold", "top_k", "release_after_frames", "box_cut")
_WORKER_PARAMETERS = ("reset_on_gap_sec", "max_backward_jump_sec", "prompt_horizon_sec")
_NODE_PARAMETERS = (
    "overlay_alpha",
    "service_timeout_sec",
    "log_throttle_sec",
    "diagnostics_window_sec",
    "expected_rate_hz",
    "save_state_on_shutdown",
)
# name -> (check, what it must be)
_RANGES = {
    "foreground_threshold": (lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
    "overlay_alpha": (lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
    "top_k": (lambda v: v >= 0, ">= 0"),
    "release_after_frames": (lambda v: v >= 0, ">= 0"),
    "box_cut": (lambda v: v in BOX_CUTS, "one of " + ", ".join(BOX_CUTS)),
    "max_backward_jump_sec": (lambda v: v >= 0, ">= 0"),
    "prompt_horizon_sec": (lambda v: v > 0, "> 0"),
    "service_timeout_sec": (lambda v: v > 0, "> 0"),
    "log_throttle_sec": (lambda v: v >= 0, ">= 0"),
    "diagnostics_window_sec": (lambda v: v > 0, "> 0"),
    "diagnostics_period_sec": (lambda v: v > 0, "> 0"),
    "expected_rate_hz": (lambda v: v >= 0, ">= 0"),
    "image_qos_depth": (lambda v: v >= 1, ">= 1"),
    "num_threads": (lambda v: v >= 0, ">= 0"),
}


def stream_name_from_topic(topic: str, index: int) -> str:
    """'/front/image_raw/compressed' -> 'front'; falls back to camera<index>."""
    parts = [p for p in topic.strip("/").split("/") if p]
    while parts and parts[-1] in _TOPIC_SUFFIXES:
        parts.pop()
    name = re.sub(r"[^A-Za-z0-9_]", "_", "_".join(parts))
    if not name or not re.match(r"[A-Za-z]", name):
        name = f"camera{index}"
    return name


def default_state_dir() -> str:
    return os.path.join(os.path.expanduser("~"), ".cache", "ausm", "state")


class PerceptionNode(Node):
    def __init__(self, **kwargs):
        super().__init__("ausm_perception", **kwargs)
        p = self._declare_parameters()
        self.params = p
        self._last_log = {}

        # 0 = 1 thread: on a loaded 2-core machine torch with 2 intra-op threads was ~10x
        # slower than with 1 (spin-waiting), and one thread is never far off on an idle one.
        self.threads = p["num_threads"] or 1
        # backend and device fall back (with a warning saying why) where they cannot run
        self.runtime = runtimes.open(
            p["checkpoint"],
            p["backend"],
            p["device"],
            num_threads=self.threads,
            onnx_file=p["onnx_file"],
            cache_dir=p["cache_dir"],
            force_rebuild=p["force_rebuild"],
            input_size=p["input_size"],
            build_only=p["build_only"],
            warn=self.get_logger().warning,
        )
        if p["build_only"]:
            self.get_logger().info(f"build_only: engine at {self.runtime.engine_path}; exiting")
            raise SystemExit(0)
        self.backend = f"{self.runtime.backend}/{self.runtime.device}"
        self.get_logger().info(
            f"model {self.runtime.config.name} from {self.runtime.checkpoint} on {self.backend}, "
            f"{self.threads} inference thread(s)"
        )
        self.model_input = self._describe_input_fit()
        self.get_logger().info(self.model_input)

        settings = SessionSettings(**{name: p[name] for name in _SESSION_PARAMETERS})
        image_qos = QoSProfile(
            depth=max(1, p["image_qos_depth"]),
            history=HistoryPolicy.KEEP_LAST,
            reliability=ReliabilityPolicy.RELIABLE if p["image_qos_reliable"] else ReliabilityPolicy.BEST_EFFORT,
        )
        topics = [(t, False) for t in p["image_topics"] if t] + [(t, True) for t in p["compressed_image_topics"] if t]
        if not topics:
            raise ConfigError("no camera topics: set image_topics or compressed_image_topics")
        names = [n for n in p["stream_names"] if n]
        if names and len(names) != len(topics):
            raise ConfigError(f"stream_names has {len(names)} entries for {len(topics)} camera topics")
        names = names or [stream_name_from_topic(t, i) for i, (t, _) in enumerate(topics)]
        if len(set(names)) != len(names):
            raise ConfigError(f"stream names must be unique, got {names}; set stream_names")
        self.state_dir = os.path.expanduser(p["state_dir"]) if p["state_dir"] else default_state_dir()

        # main() spins one thread, where these groups change nothing except that a service
        # coroutine holds its (mutually exclusive) group while it awaits the inference thread:
        # services are still answered one at a time, while images and prompts keep coming.
        # Under a multi-threaded executor the groups keep the same guarantees.
        self._topic_group = ReentrantCallbackGroup()
        self._service_group = MutuallyExclusiveCallbackGroup()
        self.streams = {}
        self._outputs = {}
        for name, (topic, compressed) in zip(names, topics):
            self._add_stream(name, topic, compressed, image_qos, settings)

        self._ack_pub = self.create_publisher(PromptAck, "prompt_ack", PROMPT_QOS)
        self.create_subscription(ObjectPrompt, "prompts", self._on_prompt, PROMPT_QOS, callback_group=self._topic_group)
        self.create_service(AddObject, "add_object", self._on_add_object, callback_group=self._service_group)
        self.create_service(RemoveObject, "remove_object", self._on_remove_object, callback_group=self._service_group)
        self.create_service(ResetStream, "reset_stream", self._on_reset_stream, callback_group=self._service_group)
        self.create_service(SaveState, "save_state", self._on_save_state, callback_group=self._service_group)
        self.create_service(LoadState, "load_state", self._on_load_state, callback_group=self._service_group)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(p["diagnostics_period_sec"], self._publish_diagnostics, callback_group=self._topic_group)
        if p["load_state_on_start"]:
            self._load_on_start()
        for worker in self.streams.values():
            worker.start()
        # Registered last: declaring the parameters above must not run it.
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.get_logger().info(
            "streams: " + ", ".join(f"{n} <- {t}{' (compressed)' if c else ''}" for n, (t, c) in zip(names, topics))
        )

    def _declare_parameters(self):
        """Declare and read every parameter; a wrong type or value is one ConfigError line."""
        values = {}
        for name, default in PARAMETERS.items():
            # Topic lists also accept one plain string (image_topics:=/cam/image_raw).
            descriptor = ParameterDescriptor(dynamic_typing=True) if name in STRING_LISTS else None
            try:
                values[name] = self.declare_parameter(name, default, descriptor).value
            except (InvalidParameterTypeException, ParameterException) as error:
                raise ConfigError(
                    f"parameter '{name}': {error} (expected {type(default).__name__}, see config/perception.yaml)"
                ) from None
        for name in STRING_LISTS:
            values[name] = as_string_list(name, values[name])
        for name, (ok, what) in _RANGES.items():
            if not ok(values[name]):
                raise ConfigError(f"parameter '{name}' must be {what}, got {values[name]!r}")
        return values

    def _describe_input_fit(self):
        config_hw = self.runtime.config.input_size
        given = tuple(self.params["input_size"]) if all(self.params["input_size"]) else None
        hw = given or (tuple(config_hw) if config_hw else None)
        size = f"{hw[0]}x{hw[1]} (HxW)" if hw else "the first frame's size rounded to a multiple of 32"
        fit = "scaled by one factor to fit and padded (aspect ratio kept)"  # ausm/letterbox.py
        return (
            f"model input {size}: every camera image is {fit}; masks and boxes are published at the "
            "camera image's own size"
        )

    # -- setup -----------------------------------------------------------------------------
    def _add_stream(self, name, topic, compressed, image_qos, settings):
        outputs = {
            "detections": self.create_publisher(Detection2DArray, f"{name}/detections", 10),
            "instances": self.create_publisher(InstanceSegmentation, f"{name}/instances", 10),
            "labels": self.create_publisher(Image, f"{name}/labels", 10)
            if self.params["publish_label_image"]
            else None,
            "overlay": self.create_publisher(Image, f"{name}/overlay", 2),
        }
        if self.runtime.class_names:
            outputs["label_info"] = self.create_publisher(LabelInfo, f"{name}/label_info", LATCHED)
        self._outputs[name] = outputs
        self._publish_label_info(name)
        p = self.params
        worker = StreamWorker(
            name,
            self.runtime.new_session(settings),
            self.runtime.class_names,
            publish=lambda *args, n=name: self._publish_result(n, *args),
            acknowledge=self._acknowledge,
            log=self._throttled_log,
            settings=WorkerSettings(
                reset_on_gap_sec=p["reset_on_gap_sec"],
                max_backward_jump_sec=p["max_backward_jump_sec"],
                prompt_horizon_sec=p["prompt_horizon_sec"],
                # Only with an explicit state_dir: a default would make every run's ids
                # depend on the runs before it (bag replays would stop being repeatable).
                id_counter_path=os.path.join(self.state_dir, f"{name}.ids.json") if p["state_dir"] else "",
            ),
            stats=StreamStats(window_sec=p["diagnostics_window_sec"], expected_rate_hz=p["expected_rate_hz"]),
        )
        self.streams[name] = worker
        msg_type = CompressedImage if compressed else Image
        events = SubscriptionEventCallbacks(
            message_lost=lambda info, w=worker: w.stats.middleware_lost(info.total_count_change)
        )
        try:
            self.create_subscription(
                msg_type,
                topic,
                lambda msg, w=worker, c=compressed: w.offer(msg, c),
                image_qos,
                callback_group=self._topic_group,
                event_callbacks=events,
            )
            worker.stats.middleware_reports_loss = True
        except Exception as error:
            self.get_logger().info(
                f"[{name}] no message-lost events from this middleware ({error}); "
                "loss before the node is estimated from gaps in the image stamps"
            )
            self.create_subscription(
                msg_type,
                topic,
                lambda msg, w=worker, c=compressed: w.offer(msg, c),
                image_qos,
                callback_group=self._topic_group,
            )
        self.create_subscription(
            Detection2DArray,
            f"{name}/prompt_boxes",
            lambda msg, n=name: self._on_boxes(n, msg),
            PROMPT_QOS,
            callback_group=self._topic_group,
        )
        self.create_subscription(
            PointStamped,
            f"{name}/clicked_point",
            lambda msg, n=name: self._on_click(n, msg),
            PROMPT_QOS,
            callback_group=self._topic_group,
        )

    def _publish_label_info(self, name):
        pub = self._outputs[name].get("label_info")
        if pub is not None:
            pub.publish(
                result_messages.label_info(
                    Header(stamp=self.get_clock().now().to_msg()),
                    self.runtime.class_names,
                    self.params["foreground_threshold"],
                )
            )

    # -- runtime parameters ----------------------------------------------------------------------
    def _on_set_parameters(self, parameters):
        """Apply what can change while running; refuse the rest with the reason (never ignore)."""
        changes = {}
        for param in parameters:
            name, value = param.name, param.value
            if name not in PARAMETERS:
                continue  # use_sim_time and the like: rclpy's business
            if name in STRING_LISTS or name not in (*_SESSION_PARAMETERS, *_WORKER_PARAMETERS, *_NODE_PARAMETERS):
                return SetParametersResult(
                    successful=False,
                    reason=(
                        f"'{name}' is read only at start (it shapes topics, the model or the threads): restart "
                        "the node with the new value"
                    ),
                )
            default = PARAMETERS[name]
            if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if type(value) is not type(default):
                return SetParametersResult(
                    successful=False, reason=(f"'{name}' must be {type(default).__name__}, got {type(value).__name__}")
                )
            if name in _RANGES and not _RANGES[name][0](value):
                return SetParametersResult(successful=False, reason=f"'{name}' must be {_RANGES[name][1]}")
            changes[name] = value
        session = {k: v for k, v in changes.items() if k in _SESSION_PARAMETERS}
        for worker in self.streams.values():
            if session:
                worker.update_session_settings(**session)
            for name in _WORKER_PARAMETERS:
                if name in changes:
                    setattr(worker.settings, name, changes[name])
            if "diagnostics_window_sec" in changes:
                worker.stats.window_sec = changes["diagnostics_window_sec"]
            if "expected_rate_hz" in changes:
                worker.stats.expected_rate_hz = changes["expected_rate_hz"]
        self.params.update(changes)
        if "foreground_threshold" in changes:
            for name in self.streams:
                self._publish_label_info(name)
        if changes:
            self.get_logger().info("parameters applied: " + ", ".join(f"{k}={v!r}" for k, v in changes.items()))
        return SetParametersResult(successful=True)

    # -- logging -----------------------------------------------------------------------------
    def _throttled_log(self, level, key, text):
        """At most one line per key (a stream and a kind of event) per log_throttle_sec."""
        now = time.monotonic()
        if now - self._last_log.get(key, -1e9) < self.params["log_throttle_sec"]:
            return
        self._last_log[key] = now
        # One call site per severity: rclpy refuses a second severity from the same line.
        logger = self.get_logger()
        if level == "error":
            logger.error(text)
        elif level in ("warn", "warning"):
            logger.warning(text)
        else:
            logger.info(text)

    # -- outputs -----------------------------------------------------------------------------
    def _publish_result(self, name, header, rgb, result, prompted_ids, step_ms):
        out = self._outputs[name]
        names = self.runtime.class_names
        out["detections"].publish(result_messages.detection_array(result, header, names))
        out["instances"].publish(result_messages.instance_segmentation(result, header, names, prompted_ids))
        if out["labels"] is not None:
            out["labels"].publish(result_messages.label_image(result, header))
        if out["overlay"].get_subscription_count() > 0:
            out["overlay"].publish(
                result_messages.overlay_image(rgb, result, header, self.params["overlay_alpha"], names)
            )
        latency_ms = (self.get_clock().now().nanoseconds - (header.stamp.sec * 10**9 + header.stamp.nanosec)) / 1e6
        worker = self.streams[name]
        worker.stats.frame_published(latency_ms, step_ms, len(result), worker.session.state_bytes())

    def _acknowledge(self, pending: PendingPrompt, outcome):
        if not self.context.ok():  # shutting down: nobody can hear it any more
            return
        ack = PromptAck(
            stream=pending.stream,
            prompt_id=pending.prompt_id,
            action=int(pending.action),
            object_id=int(outcome.object_id),
            status=outcome.status,
            message=outcome.message,
            source=_ACK_SOURCES.get(pending.source, PromptAck.SOURCE_TOPIC),
            index=pending.index,
        )
        if outcome.header is not None and outcome.status != PromptAck.REJECTED:
            ack.header = outcome.header
        ack.requested_stamp.sec, ack.requested_stamp.nanosec = divmod(pending.stamp_ns, 10**9)
        self._ack_pub.publish(ack)

    def _reject(self, pending, reason, stats=None):
        self._acknowledge(pending, Applied(PromptAck.REJECTED, pending.object_id or 0, reason))
        if stats is not None:
            stats.invalid_input("bad prompt", reason)
        self._throttled_log(
            "warn", f"{pending.stream}:prompt", f"prompt {pending.prompt_id} ({pending.source}) rejected: {reason}"
        )

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
            try:
                action = PromptAction(msg.action)
            except ValueError:
                action = PromptAction.ADD
            self._reject(
                PendingPrompt(
                    stream=msg.stream,
                    prompt_id=msg.prompt_id,
                    action=action,
                    stamp_ns=stamp_ns(msg.header.stamp),
                    object_id=msg.object_id or None,
                ),
                str(error),
                self.streams.get(msg.stream),
            )

    def _on_boxes(self, name, msg):
        for pending, error in from_box_detections(msg, name):
            if error is None:
                self.streams[name].submit(pending)
            else:
                self._reject(pending, str(error), self.streams[name].stats)

    def _on_click(self, name, msg):
        pending, error = from_click(msg, name)
        if error is None:
            self.streams[name].submit(pending)
        else:
            self._reject(pending, str(error), self.streams[name].stats)

    # -- services: coroutines that await the inference thread --------------------------------
    async def _finished(self, worker, queue, timeout):
        """Queue work on a stream's inference thread and await its end without blocking the
        executor's one thread (main() explains why one): ``queue(on_done)`` queues it (worker.submit
        or worker.run_between_frames) and returns it. The work, once finished; None when
        ``timeout`` seconds passed first and it was withdrawn, so it never runs."""
        done = self.executor.create_future()
        # set_result from another thread wakes the executor only through a done callback
        # (it is scheduled as an executor task); without one the awaiting coroutine is not resumed.
        done.add_done_callback(lambda _: None)
        item = queue(lambda: done.set_result(True))

        def expire():
            # Exactly one set_result: either withdrawn here, or the inference thread has taken
            # it and its on_done comes when it ends.
            if worker.withdraw(item):
                done.set_result(False)

        # A wall-clock thread, like the blocking wait before it: an rclpy timer would follow
        # sim time (a paused bag would never time out), and in the service callback group it
        # could not run while this call holds the group.
        timer = threading.Timer(timeout, expire)
        timer.daemon = True  # a pending call must not keep a stopping node alive
        timer.start()
        try:
            return item if await done else None
        finally:
            timer.cancel()

    async def _wait(self, worker, pending):
        """The outcome of a service prompt once a frame took it; None when none did within
        service_timeout_sec (the prompt is withdrawn)."""
        timeout = self.params["service_timeout_sec"]
        waiter = await self._finished(worker, lambda on_done: worker.submit(pending, on_done), timeout)
        if waiter is not None:
            return waiter.outcome
        # Still one ack per prompt: the withdrawn one is acknowledged as rejected.
        self._acknowledge(
            pending,
            Applied(
                PromptAck.REJECTED,
                pending.object_id or 0,
                f"no frame arrived within {timeout} s; prompt withdrawn",
            ),
        )
        return None

    async def _call(self, worker, fn):
        """``fn(session)`` run on the stream's inference thread between frames: its result, or
        raises its error, or TimeoutError after service_timeout_sec (then it never runs)."""
        timeout = self.params["service_timeout_sec"]
        task = await self._finished(worker, lambda on_done: worker.run_between_frames(fn, on_done), timeout)
        if task is None:
            raise TimeoutError(f"stream '{worker.name}' was busy for {timeout} s")
        if task.error is not None:
            raise task.error
        return task.result

    async def _on_add_object(self, request, response):
        try:
            pending = from_object_prompt(request.prompt, source="service")
            if pending.action not in (PromptAction.ADD, PromptAction.REFINE):
                raise PromptError("add_object takes ADD or REFINE prompts; use remove_object / reset_stream")
            outcome = await self._wait(self._stream_for(pending.stream), pending)
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

    async def _on_remove_object(self, request, response):
        try:
            worker = self._stream_for(request.stream)
            pending = PendingPrompt(
                stream=request.stream,
                prompt_id=0,
                action=PromptAction.REMOVE,
                stamp_ns=0,
                object_id=int(request.object_id) or None,
                source="service",
            )
            if pending.object_id is None:
                raise PromptError("object_id 0 is not a track id")
            outcome = await self._wait(worker, pending)
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

    # -- state across restarts --------------------------------------------------------------------
    def _state_targets(self, request):
        targets = [self._stream_for(request.stream)] if request.stream else list(self.streams.values())
        folder = os.path.expanduser(request.directory) if request.directory else self.state_dir
        return [(w, os.path.join(folder, f"{w.name}.safetensors")) for w in targets]

    def _session_settings_now(self):
        return {name: self.params[name] for name in _SESSION_PARAMETERS}

    def _restore(self, worker, path):
        """On the worker's thread (or before it starts): load the snapshot, keep this node's
        current settings (the snapshot's are the old node's), and the id guarantee."""

        def load(session):
            session.restore(path)
            worker.update_session_settings(**self._session_settings_now())
            worker.after_restore()

        return load

    async def _on_save_state(self, request, response):
        async def save(worker, path):
            await self._call(worker, lambda session: self._save(session, path))

        return await self._state_service(request, response, "saved", save)

    async def _on_load_state(self, request, response):
        async def load(worker, path):
            if not os.path.isfile(path):
                raise ValueError(f"no snapshot at {path}")
            await self._call(worker, self._restore(worker, path))

        return await self._state_service(request, response, "restored", load)

    @staticmethod
    def _save(session, path):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        session.snapshot(path)  # atomic: a temporary file renamed over the old one

    async def _state_service(self, request, response, verb, action):
        try:
            targets = self._state_targets(request)
        except PromptError as error:
            response.success, response.message = False, str(error)
            return response
        done, failed = [], []
        for worker, path in targets:
            try:
                await action(worker, path)
                done.append(path)
            except (OSError, ValueError, TimeoutError) as error:
                failed.append(f"{worker.name}: {error}")
        response.success = not failed
        response.files = done
        response.message = "; ".join([f"{verb} {', '.join(done)}"] * bool(done) + failed)
        if failed:
            self.get_logger().warning(f"state not {verb}: {response.message}")
        else:
            self.get_logger().info(f"state {verb}: {response.message}")
        return response

    def _load_on_start(self):
        for worker, path in self._state_targets(LoadState.Request()):
            if not os.path.isfile(path):
                self.get_logger().info(f"[{worker.name}] no snapshot at {path}: starting fresh")
                continue
            try:
                self._restore(worker, path)(worker.session)
                self.get_logger().info(
                    f"[{worker.name}] state restored from {path} ({len(worker.session.tracks.active_ids())} tracks)"
                )
            except ValueError as error:
                self.get_logger().error(f"[{worker.name}] snapshot {path} not restored, starting fresh: {error}")

    def _save_on_shutdown(self):
        for worker, path in self._state_targets(SaveState.Request()):
            if worker._thread.is_alive():  # still inside a frame: its state is not consistent
                self.get_logger().error(f"[{worker.name}] not saved: the stream did not stop in time")
                continue
            try:
                self._save(worker.session, path)
                self.get_logger().info(f"[{worker.name}] state saved to {path}")
            except (OSError, ValueError) as error:
                self.get_logger().error(f"[{worker.name}] state not saved to {path}: {error}")

    # -- diagnostics ------------------------------------------------------------------------------
    def _publish_diagnostics(self):
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        for name, worker in self.streams.items():
            worker.expire_prompts()
            values = worker.stats.snapshot()
            level, summary = worker.stats.level()
            values.update(backend=self.backend, inference_threads=self.threads)
            array.status.append(
                DiagnosticStatus(
                    level=bytes([level]),
                    name=f"{self.get_name()}: {name}",
                    message=summary,
                    hardware_id=self.backend,
                    values=[
                        KeyValue(key=k, value=f"{v:.3f}" if isinstance(v, float) else str(v)) for k, v in values.items()
                    ],
                )
            )
        self._diag_pub.publish(array)

    def destroy_node(self):
        # getattr: __init__ may have failed before the streams existed; keep its error visible.
        streams = getattr(self, "streams", {})
        for worker in streams.values():
            worker.reject_all_prompts("node shutting down")
            worker.stop()
        if streams and self.params.get("save_state_on_shutdown"):
            self._save_on_shutdown()
        return super().destroy_node()


def main(args=None):
    rclpy.init(args=args)
    node = None
    try:
        try:
            node = PerceptionNode()
        except (ConfigError, ValueError, FileNotFoundError, RuntimeError) as error:
            # A configuration the node cannot run with: one line that says what to change,
            # not a traceback, and a non-zero exit for launch files and supervisors.
            rclpy.logging.get_logger("ausm_perception").fatal(f"cannot start: {error}")
            raise SystemExit(2) from None
        # One executor thread: the hop from the DDS receive thread to the image callback took
        # 0.9 ms with it and 2.1 ms with a 4-thread MultiThreadedExecutor (profiled on the frames
        # of bench/node_latency.py): 1.2 ms of the node's 5.6-6.6 ms overhead over session.step.
        # It needs every callback to return at once: the image callback only fills a mailbox,
        # and the services that wait for the inference thread are coroutines (_finished).
        # Not rclpy's EventsExecutor, as fast: it does not resume a coroutine awaiting a Future
        # set from another thread.
        executor = rclpy.executors.SingleThreadedExecutor()
        executor.add_node(node)
        while rclpy.ok():
            try:
                executor.spin_once(timeout_sec=0.5)
            except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
                raise
            except Exception as error:
                node._throttled_log("error", "callback", f"a callback failed, node continues: {error!r}")
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
