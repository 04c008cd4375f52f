"""Reading bags: any rosbag2 bag with errors a person can act on (BagFile), an evaluation
bag's sequences, frames, prompts and ground truth (EvalBag), and a replay's output bag
(read_record).
"""

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
from rosbags.rosbag2 import Reader

from ausm_ros.bag import BagError, layout, messages
from ausm_ros.bag.messages import typestore
from ausm_ros.image_conversion import ImageError

# --------------------------------------------------------------------------------------------------
# Read rosbag2 bags (a bag directory, or a bare .mcap / .db3 file) with errors a person can act on.
#
# rosbags reports problems in its own terms ("File end magic is invalid."); every such
# error is re-raised here as a BagError that names the file and says what is wrong with
# it in plain words. Reading all messages of a topic also checks their number against
# the bag's index, so a cut-off file is not taken for a short recording.

_HINTS = (
    ("end magic is invalid", "the file is truncated (its MCAP footer is missing) or is not an MCAP file"),
    ("file magic is invalid", "the file does not start like an MCAP file (corrupt header or wrong file)"),
    ("truncated record", "the file is truncated or corrupt (a record runs past the end of its data)"),
    ("checksum mismatch", "the data is corrupt (a chunk's CRC-32 does not match its contents)"),
    ("chunk size mismatch", "the data is corrupt (a chunk decompresses to the wrong size)"),
    ("seems to be empty", "the file is empty"),
    ("database disk image is malformed", "the sqlite3 file is corrupt or truncated"),
    ("file is not a database", "the file is not an sqlite3 database (corrupt header or wrong file)"),
    ("metadata file", "the bag directory has no metadata.yaml"),
    ("some database files are missing", "a storage file listed in metadata.yaml is missing"),
)


def explain(error):
    text = str(error) or type(error).__name__
    for needle, hint in _HINTS:
        if needle in text.lower():
            return f"{hint} ({text.strip()})"
    return f"{type(error).__name__}: {text.strip()}"


@dataclass
class BagMessage:
    topic: str
    log_ns: int  # the bag's timestamp: receive time for recordings, the stamp for our datasets
    msgtype: str
    raw: bytes
    index: int  # position of this message in its topic, from 0
    _msg: object = None

    @property
    def msg(self):
        """The deserialized message (rosbags types), decoded on first use."""
        if self._msg is None:
            self._msg = typestore().deserialize_cdr(self.raw, self.msgtype)
        return self._msg


class BagFile:
    def __init__(self, path):
        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f"{self.path}: no such bag (expected a rosbag2 directory, or an .mcap or .db3 file)")
        try:
            self._reader = Reader(self.path)
            self._reader.open()
        except Exception as error:
            raise BagError(f"{self._where()}: cannot open the bag: {explain(error)}") from error
        self.topics = {}
        for connection in self._reader.connections:
            msgtype, count = self.topics.get(connection.topic, (connection.msgtype, 0))
            self.topics[connection.topic] = (msgtype, count + connection.msgcount)

    def _where(self):
        """The bag, and its one storage file when there is just one: the file to look at."""
        if self.path.is_dir():
            files = sorted(p.name for p in self.path.iterdir() if p.suffix in (".mcap", ".db3", ".zstd"))
            if len(files) == 1:
                return f"{self.path}/{files[0]}"
        return str(self.path)

    def close(self):
        if getattr(self, "_reader", None) is not None and self._reader.is_open:
            self._reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- topics -----------------------------------------------------------------------------
    def describe_topics(self):
        return ", ".join(f"{t} ({m.split('/')[-1]}, {c})" for t, (m, c) in sorted(self.topics.items())) or "none"

    def has(self, topic):
        return topic in self.topics

    def require(self, topic, msgtypes=None, what="topic"):
        """The topic's type; a BagError naming the missing topic (and what is there) otherwise."""
        if topic not in self.topics:
            raise BagError(f"{self.path}: no {what} '{topic}' in this bag (topics: {self.describe_topics()})")
        msgtype = self.topics[topic][0]
        if msgtypes and msgtype not in msgtypes:
            raise BagError(f"{self.path}: topic '{topic}' has type {msgtype}, expected {' or '.join(msgtypes)}")
        return msgtype

    def topics_of_type(self, msgtypes):
        return sorted(t for t, (m, _) in self.topics.items() if m in msgtypes)

    def count(self, topic):
        return self.topics.get(topic, ("", 0))[1]

    # -- messages -----------------------------------------------------------------------------
    def messages(self, topics):
        """BagMessage of the given topics in bag-time order. Reading to the end also checks
        each topic's message count against the bag's index (truncation)."""
        topics = [t for t in topics if t in self.topics]
        connections = [c for c in self._reader.connections if c.topic in topics]
        seen = {t: 0 for t in topics}
        if connections:
            iterator = self._reader.messages(connections=connections)
            while True:
                try:
                    connection, log_ns, raw = next(iterator)
                except StopIteration:
                    break
                except (Exception, sqlite3.Error) as error:
                    where = ", ".join(f"{t} {n}" for t, n in seen.items())
                    raise BagError(
                        f"{self._where()}: cannot read the messages (read so far: {where}): {explain(error)}"
                    ) from error
                message = BagMessage(connection.topic, log_ns, connection.msgtype, raw, seen[connection.topic])
                seen[connection.topic] += 1
                try:
                    message.msg  # noqa: B018 - decode now, so a corrupt message is named where it is
                except Exception as error:
                    raise BagError(
                        f"{self._where()}: message {message.index} on {connection.topic} "
                        f"(bag time {log_ns / 1e9:.6f} s) cannot be decoded as {connection.msgtype}: "
                        f"{explain(error)}"
                    ) from error
                yield message
        for topic, n in seen.items():
            expected = self.count(topic)
            if n != expected:
                raise BagError(
                    f"{self._where()}: topic '{topic}' holds {n} messages but the bag's index lists "
                    f"{expected}: the bag is truncated or corrupt"
                )


# --------------------------------------------------------------------------------------------------
# An evaluation bag opened for replay and scoring: its camera topic, sequences, frames and prompts.
#
# `EvalBag.index()` reads the small things once (frame stamps, sequence records, prompts);
# ground-truth label images are streamed sequence by sequence (`ground_truth()`), so a
# large dataset bag never has to fit in memory.


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
            return messages.frame_rgb(message.msg, self.image_type).shape[:2]
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
                        messages.stamp_ns(msg.header.stamp),
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
                        messages.stamp_ns(hdr.stamp),
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
                first_stamp_ns=messages.stamp_ns(hdr.stamp),
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
            stamp = messages.stamp_ns(message.msg.header.stamp)
            if stamp not in by_stamp:
                raise BagError(
                    f"{self.path}: label image {message.index} on {self.label_topic} is stamped "
                    f"{stamp / 1e9:.6f} s, which no frame of sequence {gt.info.name} has"
                )
            try:
                labels = messages.labels(message.msg, label_type)
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


# --------------------------------------------------------------------------------------------------
# A replay's output bag read back: what was sent when, and what the node answered when.
#
# Works on bags written by `ausm-bag-replay` and, with less bookkeeping, on any recording
# of the node's topics (e.g. `ros2 bag record` next to `ros2 bag play`): without
# /replay/published, outputs are matched to frames by stamp and latency is measured from
# the header stamp to the bag time.


@dataclass
class Published:
    send_ns: int
    frame: int  # FrameRef.index in the input bag
    stamp_ns: int
    attempt: int


@dataclass
class ReplayRecord:
    path: str
    info: Optional[dict]
    instances: List[tuple] = field(default_factory=list)  # (receive_ns, InstanceSegmentation)
    published: List[Published] = field(default_factory=list)
    acks: List[tuple] = field(default_factory=list)  # (receive_ns, PromptAck)
    sent_prompts: List[tuple] = field(default_factory=list)  # (send_ns, ObjectPrompt)
    diagnostics: List[tuple] = field(default_factory=list)  # (receive_ns, {key: value}) of our stream

    @property
    def task(self):
        return (self.info or {}).get("task")


def read_record(path, stream=None, namespace=None, node_name=None, progress=None):
    """Read an output bag. stream / namespace / node_name default to what /replay/info says
    (else 'camera', '', 'ausm_perception')."""
    with BagFile(path) as bag:
        info = None
        if bag.has(layout.REPLAY_INFO):
            for message in bag.messages([layout.REPLAY_INFO]):
                try:
                    info = json.loads(message.msg.data)
                except ValueError as error:
                    raise BagError(
                        f"{path}: {layout.REPLAY_INFO} record {message.index} is not JSON: {error}"
                    ) from error
        stream = stream or (info or {}).get("stream") or "camera"
        namespace = namespace if namespace is not None else (info or {}).get("namespace", "")
        node_name = node_name or (info or {}).get("node_name") or "ausm_perception"
        topics = layout.stream_topics(stream, namespace)
        bag.require(topics["instances"], [layout.INSTANCES], what="output topic (the node's instances)")
        record = ReplayRecord(str(path), info)
        wanted = [
            topics["instances"],
            topics["prompt_ack"],
            topics["diagnostics"],
            layout.REPLAY_PUBLISHED,
            layout.REPLAY_PROMPTS,
        ]
        status_name = f"{node_name}: {stream}"
        total = sum(bag.count(t) for t in wanted)
        bar = progress(total=total, desc=f"reading {bag.path.name}", unit="msg") if progress else None
        for message in bag.messages(wanted):
            if bar:
                bar.update(1)
            topic, t = message.topic, message.log_ns
            if topic == topics["instances"]:
                record.instances.append((t, message.msg))
            elif topic == topics["prompt_ack"]:
                record.acks.append((t, message.msg))
            elif topic == topics["diagnostics"]:
                for status in message.msg.status:
                    if status.name == status_name:
                        record.diagnostics.append((t, {kv.key: kv.value for kv in status.values}))
            elif topic == layout.REPLAY_PUBLISHED:
                entry = json.loads(message.msg.data)
                record.published.append(
                    Published(t, int(entry["frame"]), int(entry["stamp_ns"]), int(entry.get("attempt", 0)))
                )
            elif topic == layout.REPLAY_PROMPTS:
                record.sent_prompts.append((t, message.msg))
        if bar:
            bar.close()
    return record


def output_stamp(msg):
    return messages.stamp_ns(msg.header.stamp)
