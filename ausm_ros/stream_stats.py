"""Counters and rolling timings of one stream, read by the diagnostics publisher."""
import collections
import threading
import time

import numpy as np


class StreamStats:
    """Thread-safe: the image callback, the inference thread and the diagnostics timer all touch it."""

    WINDOW_SEC = 5.0

    def __init__(self):
        self._lock = threading.Lock()
        self._inputs = collections.deque()
        self._outputs = collections.deque()
        self._latency_ms = collections.deque(maxlen=200)
        self._step_ms = collections.deque(maxlen=200)
        self.received = 0
        self.processed = 0
        self.dropped = 0
        self.invalid = collections.Counter()   # reason -> count
        self.resets = collections.Counter()    # reason -> count
        self.last_reset = ""
        self.tracked_objects = 0
        self.state_bytes = 0

    def _trim(self, times, now):
        while times and now - times[0] > self.WINDOW_SEC:
            times.popleft()

    def frame_received(self, replaced_unprocessed):
        with self._lock:
            now = time.monotonic()
            self._inputs.append(now)
            self._trim(self._inputs, now)
            self.received += 1
            self.dropped += int(replaced_unprocessed)

    def frame_published(self, latency_ms, step_ms, tracked, state_bytes):
        with self._lock:
            now = time.monotonic()
            self._outputs.append(now)
            self._trim(self._outputs, now)
            self._latency_ms.append(latency_ms)
            self._step_ms.append(step_ms)
            self.processed += 1
            self.tracked_objects = tracked
            self.state_bytes = state_bytes

    def invalid_input(self, reason):
        with self._lock:
            self.invalid[reason] += 1

    def stream_reset(self, reason):
        with self._lock:
            self.resets[reason.split(":")[0]] += 1
            self.last_reset = reason

    def snapshot(self):
        """A consistent copy of everything, as plain values."""
        with self._lock:
            now = time.monotonic()
            self._trim(self._inputs, now)
            self._trim(self._outputs, now)
            latency = np.array(self._latency_ms) if self._latency_ms else np.zeros(1)
            steps = np.array(self._step_ms) if self._step_ms else np.zeros(1)
            return {
                "input_rate_hz": len(self._inputs) / self.WINDOW_SEC,
                "output_rate_hz": len(self._outputs) / self.WINDOW_SEC,
                "latency_ms_p50": float(np.percentile(latency, 50)),
                "latency_ms_p99": float(np.percentile(latency, 99)),
                "step_ms_p50": float(np.percentile(steps, 50)),
                "frames_received": self.received,
                "frames_processed": self.processed,
                "dropped_frames": self.dropped,
                "invalid_inputs": sum(self.invalid.values()),
                "invalid_by_reason": dict(self.invalid),
                "resets": sum(self.resets.values()),
                "last_reset": self.last_reset,
                "tracked_objects": self.tracked_objects,
                "state_bytes": self.state_bytes,
            }
