"""One camera stream's inference thread: newest frame wins, prompts meet their frame, resets on jumps.

The image callback only drops the message into a one-slot mailbox, so it never
waits for inference; the thread here converts, steps the session and hands the
result to the node's publish function. The session is touched by this thread
alone, which is why prompts and resets are queued to it rather than applied.
"""
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

from ausm.prompts import PromptAction
from ausm_ros.image_conversion import ImageError, check_compressed, check_image, compressed_to_rgb, image_to_rgb
from ausm_ros.msg import PromptAck
from ausm_ros.prompt_conversion import PendingPrompt, PromptError, stamp_ns, to_session_prompt
from ausm_ros.stream_stats import StreamStats


def _reason_key(text):
    """'unsupported encoding 'yuv422' (...)' -> 'unsupported encoding': a bounded set of counter names."""
    return text.split(" (")[0].split("'")[0].split(":")[0].strip()[:60]


@dataclass
class Applied:
    """How a prompt ended, for its acknowledgement and a waiting service call."""
    status: int
    object_id: int = 0
    message: str = ""
    header: object = None   # the frame's header when applied


class _Waiter:
    def __init__(self, pending: PendingPrompt):
        self.pending = pending
        self.done = threading.Event()
        self.outcome: Optional[Applied] = None


@dataclass
class WorkerSettings:
    reset_on_gap_sec: float = 5.0


class StreamWorker:
    def __init__(self, name, session, class_names, publish: Callable, acknowledge: Callable, log,
                 settings: WorkerSettings, stats: StreamStats = None):
        self.name = name
        self.session = session
        self.class_names = list(class_names)
        self._publish = publish          # (frame_header, rgb, result, prompted_ids, step_ms) -> None
        self._acknowledge = acknowledge  # (pending, Applied) -> None
        self._log = log                  # (level, key, text) -> None; the node throttles by key
        self.settings = settings
        self.stats = stats or StreamStats()
        self._cv = threading.Condition()
        self._mailbox = None             # (msg, is_compressed)
        self._prompts = []               # _Waiter
        self._reset_reason = None
        self._stop = False
        self._last = None                # (stamp_ns, frame_id, (H, W)) of the last processed frame
        self._prompted_ids = set()
        self._thread = threading.Thread(target=self._run, name=f"ausm-{name}", daemon=True)

    # -- called from ROS callbacks (any thread) ----------------------------------------
    def start(self):
        self._thread.start()

    def stop(self, timeout=5.0):
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def offer(self, msg, compressed=False):
        """Newest frame wins: an unprocessed older frame is replaced and counted as dropped.
        Malformed headers are refused here, so they are counted even when a newer frame
        would have replaced them; pixels are only decoded by the inference thread."""
        try:
            check_compressed(msg) if compressed else check_image(msg)
        except ImageError as error:
            self._image_rejected(error)
            return
        with self._cv:
            replaced = self._mailbox is not None
            self._mailbox = (msg, compressed)
            self._cv.notify_all()
        self.stats.frame_received(replaced)

    def submit(self, pending: PendingPrompt) -> _Waiter:
        waiter = _Waiter(pending)
        with self._cv:
            self._prompts.append(waiter)
        return waiter

    def withdraw(self, waiter: _Waiter) -> bool:
        """Take back a prompt not applied yet (a service call that timed out)."""
        with self._cv:
            if waiter in self._prompts:
                self._prompts.remove(waiter)
                return True
        return False

    def request_reset(self, reason):
        with self._cv:
            self._reset_reason = reason
            self._cv.notify_all()

    # -- the inference thread -------------------------------------------------------------
    def _run(self):
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._stop or self._mailbox is not None or self._reset_reason)
                if self._stop:
                    return
                item, self._mailbox = self._mailbox, None
                reset_reason, self._reset_reason = self._reset_reason, None
            if reset_reason:
                self._reset(reset_reason)
            if item is not None:
                try:
                    self._process(*item)
                except Exception as error:  # noqa: BLE001 - a bad frame must never end the stream
                    self.stats.invalid_input(type(error).__name__)
                    self._log("error", f"{self.name}:crash", f"[{self.name}] frame failed: {error!r}")

    def _image_rejected(self, error):
        self.stats.invalid_input(_reason_key(str(error)))
        self._log("warn", f"{self.name}:image", f"[{self.name}] image rejected: {error}")

    def _reset(self, reason):
        self.session.reset()
        self._last = None
        self._prompted_ids.clear()
        self.stats.stream_reset(reason)
        self._log("warn", f"{self.name}:reset", f"[{self.name}] stream reset: {reason}")

    def _check_continuity(self, header, hw):
        """Reset when the stream is not the same stream any more."""
        if self._last is None:
            return
        last_stamp, last_frame, last_hw = self._last
        now = stamp_ns(header.stamp)
        if now < last_stamp:
            self._reset(f"time jump: stamp went back {(last_stamp - now) / 1e9:.3f} s (bag loop or clock reset)")
        elif header.frame_id != last_frame:
            self._reset(f"frame_id change: '{last_frame}' -> '{header.frame_id}'")
        elif hw != last_hw:
            self._reset(f"image size change: {last_hw[1]}x{last_hw[0]} -> {hw[1]}x{hw[0]}")
        elif 0 < self.settings.reset_on_gap_sec < (now - last_stamp) / 1e9:
            self._reset(f"gap: no image for {(now - last_stamp) / 1e9:.3f} s")

    def _process(self, msg, compressed):
        try:
            rgb = compressed_to_rgb(msg) if compressed else image_to_rgb(msg)
        except ImageError as error:
            self._image_rejected(error)
            return
        header = msg.header
        hw = rgb.shape[:2]
        self._check_continuity(header, hw)
        frame_ns = stamp_ns(header.stamp)
        applied = self._apply_prompts(frame_ns, header, hw)

        started = time.perf_counter()
        try:
            result = self.session.step(rgb)
        except ValueError as error:
            self.stats.invalid_input("rejected by model")
            self._log("warn", f"{self.name}:step", f"[{self.name}] frame rejected: {error}")
            for waiter, _ in applied:
                self._finish(waiter, Applied(PromptAck.REJECTED, 0, f"frame rejected: {error}"))
            return
        step_ms = (time.perf_counter() - started) * 1e3
        self._last = (frame_ns, header.frame_id, hw)
        self._prompted_ids -= set(int(t) for t in result.released_track_ids)
        for waiter, object_id in applied:
            late = 0 < waiter.pending.stamp_ns < frame_ns
            note = (f"frame {waiter.pending.stamp_ns / 1e9:.6f} already processed; applied to "
                    f"{frame_ns / 1e9:.6f}") if late else ""
            self._finish(waiter, Applied(PromptAck.APPLIED_LATE if late else PromptAck.APPLIED,
                                         object_id, note, header))
        self._publish(header, rgb, result, frozenset(self._prompted_ids), step_ms)

    def _apply_prompts(self, frame_ns, header, hw):
        """Hand the session every prompt whose frame has come; future-stamped ones keep waiting."""
        with self._cv:
            due = [w for w in self._prompts if w.pending.stamp_ns <= frame_ns]
            self._prompts = [w for w in self._prompts if w.pending.stamp_ns > frame_ns]
        applied = []
        for waiter in due:
            pending = waiter.pending
            try:
                if pending.frame_id and pending.frame_id != header.frame_id:
                    raise PromptError(f"prompt frame_id '{pending.frame_id}' does not match the stream's "
                                      f"'{header.frame_id}'")
                if pending.action == PromptAction.RESET:
                    self._reset(f"prompt {pending.prompt_id} ({pending.source})")
                    applied.append((waiter, 0))
                    continue
                object_id = self.session.prompt(to_session_prompt(pending, hw, self.class_names))
                if pending.action == PromptAction.ADD:
                    self._prompted_ids.add(int(object_id))
                elif pending.action == PromptAction.REMOVE:
                    self._prompted_ids.discard(int(object_id))
                applied.append((waiter, int(object_id)))
            except (PromptError, ValueError) as error:
                self._finish(waiter, Applied(PromptAck.REJECTED, pending.object_id or 0, str(error), header))
                self._log("warn", f"{self.name}:prompt", f"[{self.name}] prompt {pending.prompt_id} rejected: {error}")
        return applied

    def _finish(self, waiter, outcome):
        waiter.outcome = outcome
        waiter.done.set()
        self._acknowledge(waiter.pending, outcome)

    def reject_all_prompts(self, reason):
        with self._cv:
            waiting, self._prompts = self._prompts, []
        for waiter in waiting:
            self._finish(waiter, Applied(PromptAck.REJECTED, waiter.pending.object_id or 0, reason))
