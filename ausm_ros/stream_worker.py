"""One camera stream's inference thread: newest frame wins, prompts meet their frame, resets on jumps.

The image callback only drops the message into a one-slot mailbox, so it never
waits for inference; the thread here converts, steps the session and hands the
result to the node's publish function. The session is touched by this thread
alone, which is why prompts, resets, setting changes and state save/load are queued
to it rather than applied.
"""

import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Callable, List, Optional

from ausm.prompts import PromptAction
from ausm_ros.image_conversion import ImageError, check_compressed, check_image, compressed_to_rgb, image_to_rgb
from ausm_ros.msg import PromptAck
from ausm_ros.prompt_conversion import PendingPrompt, PromptError, stamp_ns, to_session_prompt
from ausm_ros.stream_stats import StreamStats


@dataclass
class Applied:
    """How a prompt ended, for its acknowledgement and a waiting service call."""

    status: int
    object_id: int = 0
    message: str = ""
    header: object = None  # the frame's header when applied


class _Waiter:
    """A queued prompt. ``on_done`` (if given) is called once with no arguments when it ended
    (``outcome`` set), on whichever thread ended it: the node's services await it that way."""

    def __init__(self, pending: PendingPrompt, on_done: Optional[Callable[[], None]] = None):
        self.pending = pending
        self.on_done = on_done
        self.outcome: Optional[Applied] = None
        self.since = time.monotonic()


class _Task:
    """A function to run on the inference thread, between frames (state save/load);
    ``on_done()`` is called there once it ran (``result`` or ``error`` set)."""

    def __init__(self, fn: Callable, on_done: Callable[[], None]):
        self.fn = fn
        self.on_done = on_done
        self.result = None
        self.error: Optional[BaseException] = None


@dataclass
class WorkerSettings:
    reset_on_gap_sec: float = 5.0
    max_backward_jump_sec: float = 1.0  # further back resets; up to this the frame is late and dropped
    prompt_horizon_sec: float = 10.0  # prompts stamped this far ahead, or waiting this long, are rejected
    id_counter_path: str = ""  # where the stream's used track ids are kept ('' = nowhere)


def write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so a reader (or a crash) never sees half a file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class StreamWorker:
    def __init__(
        self,
        name,
        session,
        class_names,
        publish: Callable,
        acknowledge: Callable,
        log,
        settings: WorkerSettings,
        stats: StreamStats = None,
    ):
        self.name = name
        self.session = session
        self.class_names = list(class_names)
        self._publish = publish  # (frame_header, rgb, result, prompted_ids, step_ms) -> None
        self._acknowledge = acknowledge  # (pending, Applied) -> None
        self._log = log  # (level, key, text) -> None; the node throttles by key
        self.settings = settings
        self.stats = stats or StreamStats()
        self._cv = threading.Condition()
        self._mailbox = None  # (msg, is_compressed)
        self._prompts: List[_Waiter] = []
        self._tasks: List[_Task] = []
        self._session_settings = None  # SessionSettings changes to apply before the next frame
        self._reset_reason = None
        self._stop = False
        self._last = None  # (stamp_ns, frame_id, (H, W)) of the last processed frame
        self._last_offered = None  # (stamp_ns, frame_id) of the newest frame let into the mailbox
        self._after_jump = False  # the previous frame reset the stream for a time jump
        self._saved_ids = None
        self._last_frame_wall = time.monotonic()  # when the stream last brought a frame
        self._prompted_ids = set()
        self._thread = threading.Thread(target=self._run, name=f"ausm-{name}", daemon=True)

    # -- called from ROS callbacks (any thread) ----------------------------------------
    def start(self) -> None:
        self._load_id_counter()  # before the first frame: no id used before a restart is handed out
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def offer(self, msg, compressed: bool = False) -> None:
        """Newest frame wins: an unprocessed older frame is replaced and counted as dropped.
        Malformed headers are refused here, so they are counted even when a newer frame
        would have replaced them; pixels are only decoded by the inference thread. A frame
        stamped a little before the newest one is late: dropped and counted, never a reset."""
        now = stamp_ns(msg.header.stamp)
        self.stats.frame_arrived(now, self.settings.max_backward_jump_sec * 1e9)
        try:
            check_compressed(msg) if compressed else check_image(msg)
        except ImageError as error:
            self._image_rejected(error)
            return
        with self._cv:
            last = self._last_offered
            if (
                last is not None
                and msg.header.frame_id == last[1]
                and now < last[0]
                and (last[0] - now) <= self.settings.max_backward_jump_sec * 1e9
            ):
                late_by = (last[0] - now) / 1e9
                late = True
            else:
                late = False
                self._last_offered = (now, msg.header.frame_id)
                replaced = self._mailbox is not None
                self._mailbox = (msg, compressed)
                self._cv.notify_all()
        if late:
            self.stats.frame_late()
            self._log(
                "warn",
                f"{self.name}:late",
                f"[{self.name}] late frame dropped: stamped {late_by:.3f} s before the newest one",
            )
            return
        self.stats.frame_received(replaced)

    def submit(self, pending: PendingPrompt, on_done: Optional[Callable[[], None]] = None) -> _Waiter:
        waiter = _Waiter(pending, on_done)
        with self._cv:
            self._prompts.append(waiter)
        return waiter

    def withdraw(self, item) -> bool:
        """Take back a prompt (from submit) or a task (from run_between_frames) not taken by
        the inference thread yet (a service call that timed out). True: it will never run and
        its on_done is never called; False: it was taken and on_done comes when it ends."""
        with self._cv:
            for queue in (self._prompts, self._tasks):
                if item in queue:
                    queue.remove(item)
                    return True
        return False

    def request_reset(self, reason: str) -> None:
        with self._cv:
            self._reset_reason = reason
            self._cv.notify_all()

    def update_session_settings(self, **changes) -> None:
        """Model settings (discovery, thresholds, ...) for the frames from the next one on."""
        with self._cv:
            self._session_settings = {**(self._session_settings or {}), **changes}

    def run_between_frames(self, fn: Callable, on_done: Callable[[], None]) -> _Task:
        """Queue ``fn(session)`` for the inference thread, between frames; ``on_done()`` is
        called there once it ran, with its result in ``task.result`` or its error in
        ``task.error``. Never waits: callers that give up use withdraw()."""
        task = _Task(fn, on_done)
        with self._cv:
            self._tasks.append(task)
            self._cv.notify_all()
        return task

    def expire_prompts(self) -> None:
        """Reject prompts that waited longer than the horizon while the stream brought no
        frame at all (it stopped): their frame is not coming. While frames keep coming a
        prompt waits for its stamp (those too far ahead are refused at the next frame)."""
        horizon = self.settings.prompt_horizon_sec
        now = time.monotonic()
        if now - self._last_frame_wall <= horizon:
            return
        with self._cv:
            expired = [w for w in self._prompts if now - w.since > horizon]
            self._prompts = [w for w in self._prompts if w not in expired]
        for waiter in expired:
            self._finish(
                waiter,
                Applied(
                    PromptAck.REJECTED,
                    waiter.pending.object_id or 0,
                    f"expired: no frame arrived for {horizon:g} s (prompt_horizon_sec) "
                    "while it waited for the frame it is stamped with",
                ),
            )

    # -- the inference thread -------------------------------------------------------------
    def _run(self):
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._stop or self._mailbox is not None or self._reset_reason or self._tasks)
                if self._stop:
                    return
                tasks, self._tasks = self._tasks, []
                item, self._mailbox = self._mailbox, None
                reset_reason, self._reset_reason = self._reset_reason, None
                changes, self._session_settings = self._session_settings, None
            for task in tasks:
                try:
                    task.result = task.fn(self.session)
                except Exception as error:
                    task.error = error
                task.on_done()
            if changes:
                self._apply_settings(changes)
            if reset_reason:
                self._reset("service", reset_reason)
            if item is not None:
                try:
                    self._process(*item)
                except Exception as error:
                    self.stats.invalid_input("frame failed", repr(error))
                    self._log("error", f"{self.name}:crash", f"[{self.name}] frame failed: {error!r}")
                self._save_id_counter()

    def _apply_settings(self, changes):
        self.session.update_settings(**changes)

    def _image_rejected(self, error):
        kind = getattr(error, "kind", "other")
        self.stats.invalid_input(kind, str(error))
        self._log("warn", f"{self.name}:image:{kind}", f"[{self.name}] image rejected: {error}")

    def _reset(self, kind, detail=""):
        self.session.reset()
        self._last = None
        self._prompted_ids.clear()
        self.stats.stream_reset(kind, detail or kind)
        self._log("warn", f"{self.name}:reset:{kind}", f"[{self.name}] stream reset: {detail or kind}")

    def after_restore(self) -> None:
        """The session was replaced from a snapshot: continuity starts over, ids stay unique."""
        self._last = None
        self._after_jump = False
        self._prompted_ids.clear()
        self._load_id_counter()

    def _check_continuity(self, header, hw):
        """Reset when the stream is not the same stream any more; False: drop the frame (late)."""
        after_jump, self._after_jump = self._after_jump, False
        if self._last is None:
            return True
        last_stamp, last_frame, last_hw = self._last
        now = stamp_ns(header.stamp)
        if header.frame_id != last_frame:
            self._reset("frame_id change", f"frame_id change: '{last_frame}' -> '{header.frame_id}'")
        elif now < last_stamp:
            back = (last_stamp - now) / 1e9
            if back <= self.settings.max_backward_jump_sec:
                self.stats.frame_late()
                return False
            self._reset("time jump", f"time jump: stamp went back {back:.3f} s (bag loop or clock reset)")
            self._after_jump = True
        elif hw != last_hw:
            self._reset("image size change", f"image size change: {last_hw[1]}x{last_hw[0]} -> {hw[1]}x{hw[0]}")
        elif 0 < self.settings.reset_on_gap_sec < (now - last_stamp) / 1e9:
            if after_jump:
                # Back on the old timeline right after a jump reset: the same event, already
                # paid for with one reset (a single glitched stamp must not cost two).
                return True
            self._reset("gap", f"gap: no image for {(now - last_stamp) / 1e9:.3f} s")
        return True

    def _process(self, msg, compressed):
        self._last_frame_wall = time.monotonic()
        try:
            rgb = compressed_to_rgb(msg) if compressed else image_to_rgb(msg)
        except ImageError as error:
            self._image_rejected(error)
            return
        header = msg.header
        hw = rgb.shape[:2]
        if not self._check_continuity(header, hw):
            return
        frame_ns = stamp_ns(header.stamp)
        applied = self._apply_prompts(frame_ns, header, hw)

        started = time.perf_counter()
        try:
            result = self.session.step(rgb)
        except ValueError as error:
            self.stats.invalid_input("rejected by model", str(error))
            self._log("warn", f"{self.name}:step", f"[{self.name}] frame rejected: {error}")
            for waiter, _ in applied:
                self._finish(waiter, Applied(PromptAck.REJECTED, 0, f"frame rejected: {error}"))
            return
        step_ms = (time.perf_counter() - started) * 1e3
        self._last = (frame_ns, header.frame_id, hw)
        self._prompted_ids -= set(int(t) for t in result.released_track_ids)
        for waiter, object_id in applied:
            late = 0 < waiter.pending.stamp_ns < frame_ns
            note = (
                (f"frame {waiter.pending.stamp_ns / 1e9:.6f} already processed; applied to {frame_ns / 1e9:.6f}")
                if late
                else ""
            )
            self._finish(
                waiter, Applied(PromptAck.APPLIED_LATE if late else PromptAck.APPLIED, object_id, note, header)
            )
        self._publish(header, rgb, result, frozenset(self._prompted_ids), step_ms)

    def _apply_prompts(self, frame_ns, header, hw):
        """Hand the session every prompt whose frame has come; future-stamped ones keep waiting,
        unless stamped further ahead than the horizon (their frame is not coming)."""
        horizon_ns = self.settings.prompt_horizon_sec * 1e9
        with self._cv:
            due = [w for w in self._prompts if w.pending.stamp_ns <= frame_ns]
            too_far = [w for w in self._prompts if w.pending.stamp_ns - frame_ns > horizon_ns]
            self._prompts = [w for w in self._prompts if frame_ns < w.pending.stamp_ns <= frame_ns + horizon_ns]
        for waiter in too_far:
            ahead = (waiter.pending.stamp_ns - frame_ns) / 1e9
            self._finish(
                waiter,
                Applied(
                    PromptAck.REJECTED,
                    waiter.pending.object_id or 0,
                    f"stamped {ahead:.3f} s after the newest frame, beyond prompt_horizon_sec "
                    f"({self.settings.prompt_horizon_sec:g} s): is its clock right?",
                ),
            )
        applied = []
        for waiter in due:
            pending = waiter.pending
            try:
                if pending.frame_id and pending.frame_id != header.frame_id:
                    raise PromptError(
                        f"prompt frame_id '{pending.frame_id}' is not the camera's: prompts are pixel coordinates "
                        f"of this stream's images, frame_id '{header.frame_id}' (or empty); points in another "
                        "frame (e.g. RViz 'Publish Point' in the map frame) must be projected into the image first"
                    )
                if pending.action == PromptAction.RESET:
                    self._reset("prompt", f"prompt {pending.prompt_id} ({pending.source})")
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
        if waiter.on_done is not None:
            waiter.on_done()
        self._acknowledge(waiter.pending, outcome)

    def reject_all_prompts(self, reason: str) -> None:
        with self._cv:
            waiting, self._prompts = self._prompts, []
        for waiter in waiting:
            self._finish(waiter, Applied(PromptAck.REJECTED, waiter.pending.object_id or 0, reason))

    # -- track ids that survive restarts ----------------------------------------------------
    def _load_id_counter(self):
        path = self.settings.id_counter_path
        if not path or not os.path.isfile(path):
            return
        try:
            with open(path) as f:
                counter = json.load(f)
            self.session.continue_ids_after(counter)
        except (OSError, ValueError, KeyError, TypeError) as error:
            self._log(
                "warn",
                f"{self.name}:ids",
                f"[{self.name}] track id counter {path} unreadable ({error}); ids continue from the snapshot or from 1",
            )
        self._saved_ids = self.session.id_counter()

    def _save_id_counter(self):
        """Keep the used ids on disk whenever they change (rarely: new tracks), so a restart
        without a snapshot still never repeats an id."""
        path = self.settings.id_counter_path
        if not path:
            return
        counter = self.session.id_counter()
        if counter == self._saved_ids:
            return
        try:
            write_atomically(path, json.dumps(counter))
            self._saved_ids = counter
        except OSError as error:
            self._log("warn", f"{self.name}:ids", f"[{self.name}] cannot write the track id counter {path}: {error}")
