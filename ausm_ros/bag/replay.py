"""Play an evaluation bag into the perception node over DDS and record what it answers.

Two ways to play:
  lockstep  the next frame goes out when the node's output for the previous one has
            arrived: as fast as the node keeps up, nothing dropped, deterministic.
  realtime  frames go out at their recorded times (scaled by `rate`; pauses longer than
            max_pause_sec, such as the gaps between sequences, are cut short), with
            /clock published by the player and the node on use_sim_time: what a robot
            sees; frames the node cannot keep up with are dropped by it and counted.
            (A node we attach to gets /clock only if it runs on use_sim_time.)

Prompted passes send each sequence's ground-truth prompts (stamped with the frame the
object first appears on) before the sequence's first frame; the node holds them until
that frame arrives. The class in a ground-truth prompt is not sent (J&F ignores classes,
and a class name the model does not know would get the prompt rejected).

Each pass writes one output bag (see ausm_ros.bag.layout) and, when it started the node,
the node's log beside it. The node runs as its own process (NodeProcess); the DDS side
is ausm_ros.bag.dds, imported only when a pass starts (it needs rclpy).
"""

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from ausm_ros.bag import layout, messages
from ausm_ros.bag.messages import typestore
from ausm_ros.bag.writing import BagWriter

# --------------------------------------------------------------------------------------------------
# The perception node as a child process, started the way a user starts it (`python -m ausm_ros.perception_main`).

_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt)\b.*:")


def format_parameter(value):
    """A Python value as the right-hand side of `-p name:=value` (parsed by rcl as YAML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(f"'{v}'" if isinstance(v, str) else format_parameter(v) for v in value) + "]"
    if isinstance(value, str):
        return value if value else "''"
    return repr(value)


class NodeProcess:
    def __init__(self, parameters, log_path, env=None, params_file=None):
        self.parameters = dict(parameters)
        self.log_path = Path(log_path)
        args = [sys.executable, "-m", "ausm_ros.perception_main"]
        if params_file:
            args += ["--params-file", str(params_file)]
        args.append("--ros-args")
        for name, value in self.parameters.items():
            args += ["-p", f"{name}:={format_parameter(value)}"]
        self.args = args
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(args, env=env or dict(os.environ), stdout=self._log, stderr=subprocess.STDOUT)

    def exit_code(self):
        return self.process.poll()

    def log_tail(self, lines=15):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(deque(f, maxlen=lines)).rstrip()
        except OSError:
            return ""

    def first_error(self):
        """The first Python exception line of the log: the cause, when later ones are fallout."""
        try:
            with open(self.log_path, errors="replace") as f:
                return next((line.strip() for line in f if _EXCEPTION.match(line)), "")
        except OSError:
            return ""

    def stop(self, timeout=15):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


# --------------------------------------------------------------------------------------------------
# Play an evaluation bag into the perception node over DDS and record what it answers.
#
# Two ways to play:
#   lockstep  the next frame goes out when the node's output for the previous one has
#             arrived: as fast as the node keeps up, nothing dropped, deterministic.
#   realtime  frames go out at their recorded times (scaled by `rate`; pauses longer than
#             max_pause_sec, such as the gaps between sequences, are cut short), with
#             /clock published by the player and the node on use_sim_time: what a robot
#             sees; frames the node cannot keep up with are dropped by it and counted.
#             (A node we attach to gets /clock only if it runs on use_sim_time.)
#
# Prompted passes send each sequence's ground-truth prompts (stamped with the frame the
# object first appears on) before the sequence's first frame; the node holds them until
# that frame arrives. The class in a ground-truth prompt is not sent (J&F ignores classes,
# and a class name the model does not know would get the prompt rejected).
#
# Each pass writes one output bag (see ausm_ros.bag.layout) and, when it started the node,
# the node's log beside it.

TASKS = ("prompted", "unprompted")
MODES = ("lockstep", "realtime")
NODE_PARAMETERS_OF_INTEREST = (
    "discovery",
    "reset_on_gap_sec",
    "release_after_frames",
    "use_sim_time",
    "diagnostics_period_sec",
    "image_qos_reliable",
    "checkpoint",
    "device",
    "backend",
)


@dataclass
class ReplayOptions:
    mode: str = "lockstep"
    rate: float = 1.0  # realtime: playback speed
    max_pause_sec: float = 1.0  # realtime: longer pauses between frames (sequence gaps) are cut to this
    frame_timeout_sec: float = 30.0  # lockstep: wait this long for a frame's output, then resend it
    max_resends: int = 1
    node_timeout_sec: float = 120.0  # for the node to load its model and subscribe
    stream: str = "camera"
    namespace: str = ""
    node_name: str = "ausm_perception"
    storage: str = "mcap"
    prompt_settle_sec: float = 0.2  # after sending a sequence's prompts, before its first frame
    diagnostics_wait: int = 2  # /diagnostics messages awaited at each sequence end (resets per sequence)

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got '{self.mode}'")
        if not self.rate > 0:
            raise ValueError(f"rate must be positive, got {self.rate}")


@dataclass
class NodeOptions:
    """How to start the node for a pass (a pass given none attaches to a running node).
    checkpoint / device / num_threads left None come from the parameter file (the node's
    config/perception.yaml unless params_file says otherwise)."""

    checkpoint: Optional[str] = None
    device: Optional[str] = None
    num_threads: Optional[int] = None
    params_file: Optional[str] = None
    extra: dict = field(default_factory=dict)  # further `name:=value` parameters
    diagnostics_period_sec: float = 0.25  # often: resets are read per sequence from /diagnostics

    def parameters(self, eval_bag, task, options: ReplayOptions):
        """The node's parameters for this pass. Those that make the replay work (topics, QoS,
        discovery, sim time) override the parameter file."""
        compressed = eval_bag.image_type == layout.COMPRESSED_IMAGE
        chosen = {"checkpoint": self.checkpoint, "device": self.device, "num_threads": self.num_threads}
        params = {name: value for name, value in chosen.items() if value is not None}
        params.update(
            {
                "image_topics": [""] if compressed else [eval_bag.image_topic],
                "compressed_image_topics": [eval_bag.image_topic] if compressed else [""],
                "stream_names": [options.stream],
                "image_qos_reliable": True,
                "discovery": task == "unprompted",
                "diagnostics_period_sec": float(self.diagnostics_period_sec),
                "use_sim_time": options.mode == "realtime",
            }
        )
        if task == "prompted":
            # DAVIS-style evaluation: a prompted object is followed to the end of its video,
            # however long it is hidden (as ausm_train's evaluator runs the session).
            params["release_after_frames"] = 1_000_000
            # A sequence's prompts are all queued at its start, stamped with the frames where
            # their objects first appear, which may be far into a long video.
            params["prompt_horizon_sec"] = 1e6
        params.update(self.extra)
        return params


class _Timeline:
    """Sim time for /clock: runs at `rate` from the last frame sent, never past the next one."""

    def __init__(self, start_ns, rate):
        self._lock = threading.Lock()
        self.rate = rate
        self.anchor(start_ns, cap=None)

    def anchor(self, ns, cap):
        with self._lock:
            self._ns, self._mono, self._cap = int(ns), time.monotonic(), cap

    def now(self):
        with self._lock:
            ns = self._ns + int((time.monotonic() - self._mono) * self.rate * 1e9)
            return ns if self._cap is None else min(ns, self._cap)


class ReplayPass:
    """One pass (prompted or unprompted) of one bag into one node."""

    def __init__(
        self,
        eval_bag,
        task,
        out_bag,
        options: ReplayOptions,
        node_options: Optional[NodeOptions],
        progress=None,
        log=print,
        env=None,
    ):
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got '{task}'")
        self.eval_bag, self.task, self.options = eval_bag, task, options
        self.node_options, self.progress, self.log, self.env = node_options, progress, log, env
        self.out_bag = Path(out_bag)
        self.topics = layout.stream_topics(options.stream, options.namespace)
        self.node = None
        self.link = None
        self.recorder = None
        self.counters = {"frames_sent": 0, "resends": 0, "frames_without_output": 0, "prompts_sent": 0}
        self.node_parameters = {}

    # -- plumbing -------------------------------------------------------------------------------
    def _record(self, topic, msgtype, raw, receive_ns):
        self.recorder.write_raw(topic, msgtype, receive_ns, raw)

    def _node_alive(self):
        if self.node is not None and self.node.exit_code() is not None:
            cause = self.node.first_error()
            raise RuntimeError(
                f"the perception node exited with code {self.node.exit_code()}"
                + (f": {cause}" if cause else "")
                + f"; its log is {self.node.log_path}, ending:\n"
                + self.node.log_tail(8)
            )

    def _wait(self, condition, timeout):
        """link.wait, in slices, failing fast when the node process dies."""
        deadline = time.monotonic() + timeout
        while True:
            self._node_alive()
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self.link.wait(condition, min(0.5, left)):
                return True

    def _start(self):
        from ausm_ros.bag.dds import DdsLink

        if self.node_options is not None:
            params = self.node_options.parameters(self.eval_bag, self.task, self.options)
            self.node = NodeProcess(
                params,
                self.out_bag.parent / f"{self.out_bag.name}.node.log",
                env=self.env,
                params_file=self.node_options.params_file,
            )
        self.recorder = BagWriter(
            self.out_bag,
            self.options.storage,
            compress=True,
            custom_data={"ausm_ros.bag_format": "ausm-replay-output/1"},
        )
        self.link = DdsLink(
            self.eval_bag.image_topic,
            self.eval_bag.image_type,
            self.topics,
            self._record,
            f"{self.options.node_name}: {self.options.stream}",
        )

    def _wait_for_node(self):
        what = "the node it started" if self.node else f"a running node ('{self.options.node_name}')"
        if not self._wait(self.link.connected, self.options.node_timeout_sec):
            raise RuntimeError(
                f"no perception node answered within {self.options.node_timeout_sec:.0f} s (waited for {what} to "
                f"subscribe to {self.eval_bag.image_topic} and {self.topics['prompts']} and publish "
                f"{self.topics['instances']}); check ROS_DOMAIN_ID, the topic names and --stream"
            )
        self.node_parameters = self.link.node_parameters(self.options.node_name, NODE_PARAMETERS_OF_INTEREST)

    def _write_info(self, finished):
        info = {
            "task": self.task,
            "mode": self.options.mode,
            "rate": self.options.rate,
            "input_bag": str(self.eval_bag.path.resolve()),
            "image_topic": self.eval_bag.image_topic,
            "stream": self.options.stream,
            "namespace": self.options.namespace,
            "node_name": self.options.node_name,
            "topics": self.topics,
            "started_node": self.node is not None,
            "node_command": self.node.args if self.node else None,
            "node_parameters": self.node_parameters,
            "options": asdict(self.options),
            "counters": dict(self.counters),
            "finished": finished,
        }
        text = json.dumps(info, sort_keys=True)
        self.recorder.write(layout.REPLAY_INFO, layout.STRING, time.time_ns(), messages.string(text))

    def _diagnostics_barrier(self):
        """Wait for fresh /diagnostics, so resets are read after a sequence's last frame and before
        the next one (the scorer attributes them from the recorded messages)."""
        since = time.time_ns()
        want = self.options.diagnostics_wait
        period = float(self.node_parameters.get("diagnostics_period_sec", 1.0) or 1.0)
        self._wait(lambda: len(self.link.diagnostics_after(since)) >= want, want * period * 4 + 2)

    # -- prompts and frames ------------------------------------------------------------------------
    def _send_prompts(self, sequence):
        if self.task != "prompted":
            return
        store = typestore()
        # The node assigns the ids: a stream never hands out an id twice, and the bag's
        # sequences share one stream while their ground-truth labels repeat (1, 2, ... in
        # each). Scoring follows every object through the id its prompt's ack names.
        prompts = [p for p in self.eval_bag.prompts if p.sequence == sequence]
        for ref in prompts:
            msg = store.deserialize_cdr(ref.raw, layout.OBJECT_PROMPT)
            msg.stream = self.options.stream
            msg.class_id = ""
            msg.object_id = 0
            raw = store.serialize_cdr(msg, layout.OBJECT_PROMPT)
            sent = self.link.publish_prompt(raw)
            self.recorder.write_raw(layout.REPLAY_PROMPTS, layout.OBJECT_PROMPT, sent, raw)
            self.counters["prompts_sent"] += 1
            time.sleep(0.005)  # the node's reader keeps 10: give its executor time to take each
        if prompts:
            # Prompts and frames travel on different topics, so nothing orders them but time: the
            # pause lets the node queue the prompts before the frame they are stamped with arrives.
            # (rclpy's wait_for_all_acked is no help: it holds the GIL until the next DDS heartbeat.)
            # Whether it worked is in the acks: a late prompt is acknowledged APPLIED_LATE.
            time.sleep(self.options.prompt_settle_sec)

    def _publish(self, frame, raw, attempt):
        sent = self.link.publish_frame(raw)
        record = {"frame": frame.index, "stamp_ns": frame.stamp_ns, "attempt": attempt}
        self.recorder.write(layout.REPLAY_PUBLISHED, layout.STRING, sent, messages.string(json.dumps(record)))
        self.counters["frames_sent"] += 1
        return sent

    def _play_lockstep(self, frames, camera, bar, timeline):
        current = None
        for frame, message in zip(frames, camera):
            if frame.sequence != current:
                if current is not None:
                    self._diagnostics_barrier()
                current = frame.sequence
                self._send_prompts(current)
            timeline.anchor(frame.log_ns, cap=None)
            for attempt in range(self.options.max_resends + 1):
                sent = self._publish(frame, message.raw, attempt)
                if self._wait(
                    lambda frame=frame, sent=sent: self.link.output_after(frame.stamp_ns, sent) is not None,
                    self.options.frame_timeout_sec,
                ):
                    break
                if attempt < self.options.max_resends:
                    self.counters["resends"] += 1
            else:
                self.counters["frames_without_output"] += 1
                self.log(
                    f"warning: no output for frame {frame.index} (stamp {frame.stamp_ns / 1e9:.6f} s) after "
                    f"{self.options.max_resends + 1} tries"
                )
            if bar:
                bar.update(1)

    def _play_realtime(self, frames, camera, bar, timeline):
        start_mono = time.monotonic()
        elapsed = 0.0  # bag seconds played so far, pauses cut to max_pause_sec
        previous_log, current = None, None
        for k, (frame, message) in enumerate(zip(frames, camera)):
            if previous_log is not None:
                elapsed += min(max(frame.log_ns - previous_log, 0) / 1e9, self.options.max_pause_sec)
            previous_log = frame.log_ns
            if frame.sequence != current:
                current = frame.sequence
                paused = time.monotonic()
                self._send_prompts(current)
                start_mono += time.monotonic() - paused  # sending prompts is not playback time
            delay = start_mono + elapsed / self.options.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._node_alive()
            following = frames[k + 1].log_ns if k + 1 < len(frames) else None
            timeline.anchor(frame.log_ns, cap=following)
            self.link.publish_clock(frame.log_ns)
            self._publish(frame, message.raw, 0)
            if bar:
                bar.update(1)

    def _start_clock(self, timeline, stop):
        self.link.start_clock()
        thread = threading.Thread(target=self._run_clock, args=(timeline, stop), name="ausm-bag-clock", daemon=True)
        thread.start()
        return thread

    def _run_clock(self, timeline, stop):
        while not stop.is_set():
            self.link.publish_clock(timeline.now())
            stop.wait(0.01)

    def _drain(self, frames):
        """Wait for the outputs (and prompt acks) still on their way, until the node goes quiet."""

        def answered():
            return (
                all(self.link.outputs.get(f.stamp_ns) for f in frames)
                and len(self.link.acks) >= self.counters["prompts_sent"]
            )

        quiet = 3.0
        deadline = time.monotonic() + max(self.options.frame_timeout_sec, quiet)
        while time.monotonic() < deadline:
            if self._wait(answered, 0.5):
                break
            if self.link.last_output_ns and time.time_ns() - self.link.last_output_ns > quiet * 1e9:
                break
        if len(self.link.acks) < self.counters["prompts_sent"]:
            self.log(
                f"warning: {self.counters['prompts_sent'] - len(self.link.acks)} prompts were never "
                f"acknowledged by the node"
            )

    # -- the pass ----------------------------------------------------------------------------------
    def run(self):
        self.out_bag.parent.mkdir(parents=True, exist_ok=True)
        frames = self.eval_bag.frames
        stop_clock = threading.Event()
        clock_thread = None
        try:
            self._start()
            # Sim time runs from well before the first frame while the node loads (its timers,
            # /diagnostics among them, need a moving clock) and jumps forward to the first frame.
            timeline = _Timeline(max(frames[0].log_ns - 3600 * messages.NS, 1), self.options.rate)
            self._wait_for_node()
            # /clock only for a node on sim time (ours in realtime mode): other nodes may listen to it.
            sim_time = self.node_parameters.get(
                "use_sim_time", self.node is not None and self.options.mode == "realtime"
            )
            if sim_time is True:
                clock_thread = self._start_clock(timeline, stop_clock)
            if self.node is None:
                ok, message = self.link.reset_stream(self.options.stream, 10.0)
                if not ok:
                    self.log(f"warning: could not reset stream '{self.options.stream}' before the replay: {message}")
            self._write_info(finished=False)
            self._diagnostics_barrier()
            bar = (
                self.progress(total=len(frames), desc=f"{self.task} ({self.options.mode})", unit="frame")
                if self.progress
                else None
            )
            camera = self.eval_bag.bag.messages([self.eval_bag.image_topic])
            if self.options.mode == "lockstep":
                self._play_lockstep(frames, camera, bar, timeline)
            else:
                self._play_realtime(frames, camera, bar, timeline)
                timeline.anchor(timeline.now(), cap=None)  # the node's timers keep running while we drain
            if bar:
                bar.close()
            self._drain(frames)
            self._diagnostics_barrier()
            self._write_info(finished=True)
        finally:
            stop_clock.set()
            if clock_thread is not None:
                clock_thread.join(timeout=2)
            if self.link is not None:
                self.link.close()
            if self.node is not None:
                self.node.stop()
            if self.recorder is not None:
                self.recorder.close()
        return self.out_bag
