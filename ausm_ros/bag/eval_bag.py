"""An evaluation bag opened for replay and scoring: its camera topic, sequences, frames and prompts.

`EvalBag.index()` reads the small things once (frame stamps, sequence records, prompts);
ground-truth label images are streamed sequence by sequence (`ground_truth()`), so a
large dataset bag never has to fit in memory.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List

import numpy as np

from ausm_ros.bag import bag_messages as bm
from ausm_ros.bag import layout
from ausm_ros.bag.bag_reader import BagFile
from ausm_ros.bag.errors import BagError
from ausm_ros.image_conversion import ImageError


@dataclass
class FrameRef:
    index: int  # position on the camera topic, from 0 (the replay's frame number)
    sequence: int  # index into EvalBag.sequences
    position: int  # frame number within its sequence
    log_ns: int
    stamp_ns: int
    frame_id: str
    size: tuple  # (H, W)


@dataclass
class PromptRef:
    sequence: int
    stamp_ns: int
    log_ns: int
    prompt_id: int
    object_id: int  # the ground-truth label it selects
    raw: bytes


@dataclass
class SequenceGroundTruth:
    """Label masks of one sequence on its annotated frames."""

    info: layout.SequenceInfo
    annotated: List[int] = field(default_factory=list)  # positions of annotated frames
    masks: Dict[int, np.ndarray] = field(default_factory=dict)  # label -> bool [len(annotated), H, W]


def pick_image_topic(bag, wanted=None):
    if wanted:
        bag.require(wanted, layout.IMAGE_TYPES, what="camera topic")
        return wanted
    candidates = [
        t
        for t in bag.topics_of_type(layout.IMAGE_TYPES)
        if not t.startswith(("/ground_truth/", "/replay/")) and not t.endswith(("/labels", "/overlay"))
    ]
    if not candidates:
        raise BagError(
            f"{bag.path}: no camera topic (sensor_msgs/Image or CompressedImage) in this bag "
            f"(topics: {bag.describe_topics()})"
        )
    if len(candidates) > 1:
        raise BagError(f"{bag.path}: several camera topics ({', '.join(candidates)}); choose one with --image-topic")
    return candidates[0]


class EvalBag:
    def __init__(self, path, image_topic=None):
        self.path = Path(path)
        self.bag = BagFile(path)
        self.image_topic = pick_image_topic(self.bag, image_topic)
        self.image_type = self.bag.topics[self.image_topic][0]
        self.label_topic = next(
            (t for t in (layout.GT_LABELS, layout.GT_LABELS + layout.COMPRESSED_SUFFIX) if self.bag.has(t)), None
        )
        self.sequences: List[layout.SequenceInfo] = []
        self.frames: List[FrameRef] = []
        self.prompts: List[PromptRef] = []

    def close(self):
        self.bag.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def frame_size(self, message):
        if self.image_type == layout.IMAGE:
            return int(message.msg.height), int(message.msg.width)
        try:
            return bm.frame_rgb(message.msg, self.image_type).shape[:2]
        except ImageError as error:
            raise BagError(
                f"{self.path}: frame {message.index} on {self.image_topic} cannot be decoded: {error}"
            ) from error

    def index(self, progress=None):
        """Read frame stamps, sequence records and prompts (one pass over those topics)."""
        topics = [self.image_topic, layout.GT_SEQUENCE, layout.GT_PROMPTS]
        total = sum(self.bag.count(t) for t in topics)
        bar = progress(total=total, desc=f"indexing {self.path.name}", unit="msg") if progress else None
        current, positions = -1, {}
        for message in self.bag.messages(topics):
            if bar:
                bar.update(1)
            if message.topic == layout.GT_SEQUENCE:
                try:
                    info = layout.SequenceInfo.from_json(message.msg.data)
                except (ValueError, TypeError, KeyError) as error:
                    raise BagError(
                        f"{self.path}: sequence record {message.index} on {layout.GT_SEQUENCE} is not valid: {error}"
                    ) from error
                info.index = len(self.sequences)
                self.sequences.append(info)
                current = info.index
            elif message.topic == layout.GT_PROMPTS:
                if current < 0:
                    raise BagError(f"{self.path}: prompt {message.index} comes before any sequence record")
                msg = message.msg
                self.prompts.append(
                    PromptRef(
                        current,
                        bm.stamp_ns(msg.header.stamp),
                        message.log_ns,
                        int(msg.prompt_id),
                        int(msg.object_id),
                        message.raw,
                    )
                )
            else:
                if current < 0:
                    current = self._implicit_sequence(message)
                hdr = message.msg.header
                position = positions.get(current, 0)
                positions[current] = position + 1
                self.frames.append(
                    FrameRef(
                        message.index,
                        current,
                        position,
                        message.log_ns,
                        bm.stamp_ns(hdr.stamp),
                        hdr.frame_id,
                        self.frame_size(message),
                    )
                )
        if bar:
            bar.close()
        if not self.frames:
            raise BagError(f"{self.path}: the camera topic {self.image_topic} has no messages")
        if self.sequences[0].last_stamp_ns == 0:  # the implicit sequence ends with the bag
            self.sequences[0].last_stamp_ns = self.frames[-1].stamp_ns
        return self

    def _implicit_sequence(self, first_frame):
        """A recording without sequence records is one sequence without ground truth."""
        hdr = first_frame.msg.header
        height, width = self.frame_size(first_frame)
        count = self.bag.count(self.image_topic)
        self.sequences.append(
            layout.SequenceInfo(
                name=self.path.stem,
                dataset="",
                index=0,
                num_frames=count,
                width=width,
                height=height,
                first_stamp_ns=bm.stamp_ns(hdr.stamp),
                last_stamp_ns=0,
                fps=0.0,
                has_ground_truth=False,
            )
        )
        return 0

    def sequence_frames(self, sequence):
        return [f for f in self.frames if f.sequence == sequence]

    def ground_truth(self, progress=None):
        """SequenceGroundTruth of every sequence with ground truth, in order, one at a time."""
        if self.label_topic is None:
            return
        label_type = self.bag.topics[self.label_topic][0]
        bar = progress(total=self.bag.count(self.label_topic), desc="ground truth", unit="frame") if progress else None
        current, gt, by_stamp, planes = -1, None, {}, {}
        for message in self.bag.messages([layout.GT_SEQUENCE, self.label_topic]):
            if message.topic == layout.GT_SEQUENCE:
                if gt is not None:
                    yield self._finish(gt, planes)
                current += 1
                info = self.sequences[current]
                gt = SequenceGroundTruth(info)
                by_stamp = {}
                for f in self.sequence_frames(current):
                    by_stamp.setdefault(f.stamp_ns, []).append(f)
                planes = {}
                continue
            if bar:
                bar.update(1)
            if gt is None:
                raise BagError(f"{self.path}: label image {message.index} comes before any sequence record")
            stamp = bm.stamp_ns(message.msg.header.stamp)
            if stamp not in by_stamp:
                raise BagError(
                    f"{self.path}: label image {message.index} on {self.label_topic} is stamped "
                    f"{stamp / 1e9:.6f} s, which no frame of sequence {gt.info.name} has"
                )
            try:
                labels = bm.labels(message.msg, label_type)
            except ImageError as error:
                raise BagError(f"{self.path}: label image {message.index} on {self.label_topic}: {error}") from error
            if labels.shape != (gt.info.height, gt.info.width):
                raise BagError(
                    f"{self.path}: label image {message.index} is {labels.shape[1]}x{labels.shape[0]}, "
                    f"sequence {gt.info.name} is {gt.info.width}x{gt.info.height}"
                )
            # A stamp can repeat within a sequence (a camera clock that jumped back): the label
            # image belongs to the frame with its stamp that is nearest in bag time.
            frame = min(by_stamp[stamp], key=lambda f: abs(f.log_ns - message.log_ns))
            gt.annotated.append(frame.position)
            planes[len(gt.annotated) - 1] = labels
        if gt is not None:
            yield self._finish(gt, planes)
        if bar:
            bar.close()

    @staticmethod
    def _finish(gt, planes):
        """Label planes in frame order (one per frame: the first label image wins) -> masks per label."""
        first = {}
        for i, position in enumerate(gt.annotated):
            first.setdefault(position, i)
        gt.annotated = sorted(first)
        stack = (
            np.stack([planes[first[p]] for p in gt.annotated])
            if planes
            else np.zeros((0, gt.info.height, gt.info.width), np.uint16)
        )
        labels = [o.label for o in gt.info.objects] or sorted(int(v) for v in np.unique(stack) if v)
        gt.masks = {label: stack == label for label in labels}
        return gt
