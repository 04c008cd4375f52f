"""Counters and rolling timings of one stream, read by the diagnostics publisher.

Diagnostics keys are fixed (every category below is always reported, with 0): a key per
distinct error text grew without bound. The detail of the latest event is in a value.
Levels judge a recent window, so one bad message does not leave a stream WARN for ever.
"""

import collections
import threading
import time
from typing import Dict, Optional, Tuple

import numpy as np

# Why an input was refused: a closed set, so /diagnostics has a fixed set of keys.
INVALID_KINDS = (
    "unsupported encoding",
    "bad image size",
    "bad image layout",
    "unsupported compressed format",
    "bad compressed data",
    "rejected by model",
    "bad prompt",
    "frame failed",
    "other",
)
# Why a stream started over.
RESET_KINDS = ("time jump", "frame_id change", "image size change", "gap", "service", "prompt", "other")

OK, WARN, ERROR = 0, 1, 2

# Loss from stamp gaps only counts gaps up to this many expected periods: a longer
# silence is a paused camera, not lost frames.
_MAX_GAP_PERIODS = 10


class StreamStats:
    """Thread-safe: the image callback, the inference thread and the diagnostics timer all touch it."""

    RATE_WINDOW_SEC = 5.0

    def __init__(self, window_sec: float = 10.0, expected_rate_hz: float = 0.0):
        self._lock = threading.Lock()
        self.window_sec = window_sec
        self.expected_rate_hz = expected_rate_hz  # 0: learned from the stamps
        self._inputs = collections.deque()
        self._outputs = collections.deque()
        self._events = collections.deque()  # (monotonic time, kind, count): for windowed levels
        self._latency_ms = collections.deque(maxlen=200)
        self._step_ms = collections.deque(maxlen=200)
        self._stamp_deltas = collections.deque(maxlen=20)
        self._last_arrival_stamp: Optional[int] = None
        self._first_input: Optional[float] = None
        self.received = 0
        self.processed = 0
        self.dropped = 0
        self.late = 0
        self.lost_middleware = 0
        self.lost_stamp_gaps = 0
        self.middleware_reports_loss = False  # the rmw gave us a message-lost event handler
        self.invalid = collections.Counter({k: 0 for k in INVALID_KINDS})
        self.resets = collections.Counter({k: 0 for k in RESET_KINDS})
        self.last_invalid = ""
        self.last_reset = ""
        self.tracked_objects = 0
        self.state_bytes = 0

    @staticmethod
    def _trim(times, now, window):
        while times and now - (times[0][0] if isinstance(times[0], tuple) else times[0]) > window:
            times.popleft()

    def _event(self, kind, count=1):
        now = time.monotonic()
        self._events.append((now, kind, count))
        self._trim(self._events, now, max(self.window_sec, self.RATE_WINDOW_SEC))

    # -- inputs ------------------------------------------------------------------------------
    def frame_arrived(self, stamp_ns: int, backward_jump_ns: float = 1e9) -> None:
        """Every frame that reached the node, before any check: estimates the camera period
        from the stamps and counts frames missing from gaps in them (loss before the node).
        A late frame (back by at most ``backward_jump_ns``) leaves the estimate alone; a
        larger jump back starts a new timeline."""
        with self._lock:
            last = self._last_arrival_stamp
            if last is not None and stamp_ns <= last:
                if last - stamp_ns > backward_jump_ns:
                    self._last_arrival_stamp = stamp_ns
                return
            self._last_arrival_stamp = stamp_ns
            if last is None:
                return
            delta = stamp_ns - last
            period = self._period_ns()
            periods = delta / period if period else 0.0
            # Only gaps of about a whole number of periods are lost frames; anything else is
            # a camera whose rate changed (the estimate follows it within ~20 frames).
            if 1.5 < periods <= _MAX_GAP_PERIODS and abs(periods - round(periods)) < 0.25:
                missing = int(round(periods)) - 1
                self.lost_stamp_gaps += missing
                self._event("lost", missing)
            self._stamp_deltas.append(delta)

    def _period_ns(self):
        """The camera's frame period from recent stamp deltas; a low percentile, so the
        gaps of lost frames do not stretch it."""
        if len(self._stamp_deltas) < 5:
            return None
        return float(np.percentile(np.array(self._stamp_deltas), 20))

    def frame_received(self, replaced_unprocessed: bool) -> None:
        with self._lock:
            now = time.monotonic()
            self._first_input = self._first_input or now
            self._inputs.append(now)
            self._trim(self._inputs, now, self.RATE_WINDOW_SEC)
            self.received += 1
            self.dropped += int(replaced_unprocessed)

    def frame_late(self) -> None:
        with self._lock:
            self.late += 1
            self._event("late")

    def middleware_lost(self, count: int) -> None:
        with self._lock:
            self.lost_middleware += int(count)
            self._event("lost", int(count))

    # -- outputs and events -------------------------------------------------------------------
    def frame_published(self, latency_ms: float, step_ms: float, tracked: int, state_bytes: int) -> None:
        with self._lock:
            now = time.monotonic()
            self._outputs.append(now)
            self._trim(self._outputs, now, self.RATE_WINDOW_SEC)
            self._latency_ms.append(latency_ms)
            self._step_ms.append(step_ms)
            self.processed += 1
            self.tracked_objects = tracked
            self.state_bytes = state_bytes

    def invalid_input(self, kind: str, detail: str = "") -> None:
        with self._lock:
            self.invalid[kind if kind in INVALID_KINDS else "other"] += 1
            self.last_invalid = f"{kind}: {detail}" if detail else kind
            self._event("invalid")

    def stream_reset(self, kind: str, detail: str = "") -> None:
        with self._lock:
            self.resets[kind if kind in RESET_KINDS else "other"] += 1
            self.last_reset = detail or kind
            self._event("reset")

    # -- reading ------------------------------------------------------------------------------
    def expected_rate(self) -> float:
        with self._lock:
            return self._expected_rate()

    def _expected_rate(self):
        if self.expected_rate_hz > 0:
            return self.expected_rate_hz
        period = self._period_ns()
        return 1e9 / period if period else 0.0

    def snapshot(self) -> Dict:
        """A consistent copy of everything, as plain values; the keys never change."""
        with self._lock:
            now = time.monotonic()
            self._trim(self._inputs, now, self.RATE_WINDOW_SEC)
            self._trim(self._outputs, now, self.RATE_WINDOW_SEC)
            latency = np.array(self._latency_ms) if self._latency_ms else np.zeros(1)
            steps = np.array(self._step_ms) if self._step_ms else np.zeros(1)
            # A young stream has not had the whole rate window yet.
            span = min(self.RATE_WINDOW_SEC, max(1e-3, now - (self._first_input or now)))
            out = {
                "input_rate_hz": len(self._inputs) / max(span, 1.0),
                "output_rate_hz": len(self._outputs) / max(span, 1.0),
                "expected_rate_hz": self._expected_rate(),
                "latency_ms_p50": float(np.percentile(latency, 50)),
                "latency_ms_p99": float(np.percentile(latency, 99)),
                "step_ms_p50": float(np.percentile(steps, 50)),
                "frames_received": self.received,
                "frames_processed": self.processed,
                "dropped_frames": self.dropped,
                "late_frames": self.late,
                "lost_before_node": max(self.lost_middleware, self.lost_stamp_gaps),
                "lost_before_node (middleware)": self.lost_middleware,
                "lost_before_node (stamp gaps)": self.lost_stamp_gaps,
                "loss_detection": (
                    "middleware message-lost events and stamp gaps"
                    if self.middleware_reports_loss
                    else "stamp gaps (the middleware gives no message-lost events)"
                ),
                "invalid_inputs": sum(self.invalid.values()),
                "resets": sum(self.resets.values()),
                "last_invalid": self.last_invalid,
                "last_reset": self.last_reset,
                "tracked_objects": self.tracked_objects,
                "state_bytes": self.state_bytes,
            }
            out.update({f"invalid: {k}": v for k, v in self.invalid.items()})
            out.update({f"resets: {k}": v for k, v in self.resets.items()})
            return out

    def level(self) -> Tuple[int, str]:
        """(OK | WARN | ERROR, summary) judged on the last ``window_sec`` only."""
        with self._lock:
            now = time.monotonic()
            self._trim(self._inputs, now, self.RATE_WINDOW_SEC)
            recent = collections.Counter()
            for t, kind, count in self._events:
                if now - t <= self.window_sec:
                    recent[kind] += count
            if self.received == 0 and not recent["lost"]:
                return WARN, "no images received yet"
            problems = []
            expected = self._expected_rate()
            span = min(self.RATE_WINDOW_SEC, now - (self._first_input or now))
            rate = len(self._inputs) / max(span, 1e-3)
            # frames lost on the way and none arrived: the rate has collapsed to zero, say so
            collapsed = self.received == 0 or span >= 2.0
            if collapsed and expected > 0 and rate < 0.5 * expected:
                problems.append(f"input rate {rate:.1f} Hz is below half the expected {expected:.1f} Hz")
            arrived = len(self._inputs) + recent["late"]
            if recent["lost"] and recent["lost"] > 0.01 * (recent["lost"] + arrived):
                problems.append(f"{recent['lost']} frames lost before the node in the last {self.window_sec:g} s")
            for kind, what in (("invalid", "invalid inputs"), ("reset", "stream resets"), ("late", "late frames")):
                if recent[kind]:
                    problems.append(f"{recent[kind]} {what} in the last {self.window_sec:g} s")
            return (WARN, "; ".join(problems)) if problems else (OK, "ok")
