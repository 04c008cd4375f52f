"""Prompt messages (ObjectPrompt, Detection2DArray boxes, PointStamped clicks) -> ausm Prompts.

Geometry that needs the image size (masks) is checked when the prompt is applied to a
frame, by ``to_session_prompt``; everything else is checked here on arrival so a bad
prompt is rejected at once with its reason.
"""

import math
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from ausm.prompts import Prompt, PromptAction
from ausm_ros.image_conversion import mask_from_image
from ausm_ros.msg import ObjectPrompt


class PromptError(ValueError):
    """A prompt that cannot be applied; the message says why."""


@dataclass
class PendingPrompt:
    """A prompt waiting for its frame, in node terms (before it meets the session)."""

    stream: str
    prompt_id: int
    action: PromptAction
    stamp_ns: int  # the frame it refers to; 0 = the next frame
    object_id: Optional[int] = None  # None: assign (ADD only)
    points: list = field(default_factory=list)
    point_labels: list = field(default_factory=list)
    box: Optional[tuple] = None  # x1, y1, x2, y2
    mask_msg: object = None  # sensor_msgs/Image, decoded against the frame's size
    class_name: str = ""
    frame_id: str = ""
    source: str = "topic"  # topic | service | boxes | click: for logs and the ack
    index: int = 0  # boxes: position in the Detection2DArray (for the ack)


def stamp_ns(stamp):
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def _box_from_bbox(bbox):
    cx, cy = bbox.center.position.x, bbox.center.position.y
    w, h, theta = bbox.size_x, bbox.size_y, bbox.center.theta
    values = (cx, cy, w, h, theta)
    if not all(math.isfinite(v) for v in values):
        raise PromptError(f"box has a NaN or infinite value (center {cx}, {cy}, size {w} x {h}, theta {theta})")
    if theta != 0.0:
        raise PromptError(f"rotated boxes are not supported (theta {theta}); send an axis-aligned box")
    if w <= 0 or h <= 0:
        raise PromptError(f"box size must be positive, got {w} x {h}")
    return (cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0)


def from_object_prompt(msg: ObjectPrompt, source="topic") -> PendingPrompt:
    try:
        action = PromptAction(msg.action)
    except ValueError:
        raise PromptError(f"unknown action {msg.action} (ADD=0, REFINE=1, REMOVE=2, RESET=3)") from None
    pending = PendingPrompt(
        stream=msg.stream,
        prompt_id=int(msg.prompt_id),
        action=action,
        stamp_ns=stamp_ns(msg.header.stamp),
        frame_id=msg.header.frame_id,
        object_id=int(msg.object_id) or None,
        class_name=msg.class_id,
        source=source,
    )
    if action in (PromptAction.REFINE, PromptAction.REMOVE) and pending.object_id is None:
        raise PromptError(f"{action.name} needs object_id (0 is not a track id)")
    if action in (PromptAction.ADD, PromptAction.REFINE):
        for point in msg.points:
            if not (math.isfinite(point.x) and math.isfinite(point.y)):
                raise PromptError(f"point ({point.x}, {point.y}) is not finite")
            pending.points.append((float(point.x), float(point.y)))
            pending.point_labels.append(1 if point.positive else 0)
        if msg.has_box:
            pending.box = _box_from_bbox(msg.box)
        if msg.mask.width or msg.mask.height or len(msg.mask.data):
            pending.mask_msg = msg.mask
        if not pending.points and pending.box is None and pending.mask_msg is None:
            raise PromptError(f"{action.name} needs points, a box or a mask")
    return pending


def from_box_detections(msg, stream) -> List[Tuple[PendingPrompt, Optional[PromptError]]]:
    """Each Detection2D of a Detection2DArray adds one object (id = wanted track id, '' = assign).
    Every box yields a prompt, with the error that rejects it (if any), so each gets its own ack."""
    prompts = []
    for index, det in enumerate(msg.detections):
        pending = PendingPrompt(
            stream=stream,
            prompt_id=0,
            action=PromptAction.ADD,
            stamp_ns=stamp_ns(msg.header.stamp),
            frame_id=msg.header.frame_id,
            class_name=det.results[0].hypothesis.class_id if det.results else "",
            source="boxes",
            index=index,
        )
        try:
            wanted = det.id.strip()
            if wanted and not wanted.isdigit():
                raise PromptError(f"detection {index}: id '{det.id}' is not a track id (digits, or empty to assign)")
            pending.object_id = int(wanted or 0) or None
            pending.box = _box_from_bbox(det.bbox)
            prompts.append((pending, None))
        except PromptError as error:
            prompts.append(
                (pending, error if str(error).startswith("detection") else PromptError(f"detection {index}: {error}"))
            )
    return prompts


def from_click(msg, stream) -> Tuple[PendingPrompt, Optional[PromptError]]:
    """A positive click adds an object; the prompt comes back even when rejected, for its ack."""
    x, y = msg.point.x, msg.point.y
    pending = PendingPrompt(
        stream=stream,
        prompt_id=0,
        action=PromptAction.ADD,
        stamp_ns=stamp_ns(msg.header.stamp),
        frame_id=msg.header.frame_id,
        source="click",
    )
    if not (math.isfinite(x) and math.isfinite(y)):
        return pending, PromptError(f"clicked point ({x}, {y}) is not finite")
    pending.points, pending.point_labels = [(float(x), float(y))], [1]
    return pending, None


def clip_box(box: tuple, image_hw: tuple) -> tuple:
    """A box crossing the image edge keeps its part inside; one with nothing inside is refused."""
    height, width = image_hw
    x1, y1, x2, y2 = box
    clipped = (min(max(x1, 0.0), width), min(max(y1, 0.0), height), min(max(x2, 0.0), width), min(max(y2, 0.0), height))
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise PromptError(
            f"box ({x1:g}, {y1:g}, {x2:g}, {y2:g}) is outside the image {width}x{height}: "
            "nothing is left after clipping"
        )
    return clipped


def class_index(class_name, class_names):
    """A prompt's class string -> the model's class index (None when not given)."""
    if not class_name:
        return None
    if class_name in class_names:
        return class_names.index(class_name)
    if class_name.isdigit():
        return int(class_name)
    raise PromptError(f"unknown class '{class_name}' (known: {', '.join(class_names) or 'none'})")


def to_session_prompt(pending: PendingPrompt, image_hw, class_names) -> Prompt:
    """The ausm Prompt for a frame of size image_hw; mask size mismatches are rejected here."""
    mask = None
    if pending.mask_msg is not None:
        try:
            mask = mask_from_image(pending.mask_msg, image_hw)
        except ValueError as error:
            raise PromptError(str(error)) from None
    box = clip_box(pending.box, image_hw) if pending.box is not None else None
    return Prompt(
        action=pending.action,
        track_id=pending.object_id,  # ObjectPrompt.object_id is the track id
        mask=mask,
        box=box,
        points=pending.points or None,
        point_labels=pending.point_labels or None,
        class_id=class_index(pending.class_name, class_names),
        image_size=tuple(image_hw),
    )
