"""What goes where in an evaluation bag: topic names, types, and the sequence record.

An evaluation bag (written by `ausm-bag-write`) holds:

  /camera/image_raw               sensor_msgs/Image rgb8            camera frames, or
  /camera/image_raw/compressed    sensor_msgs/CompressedImage       jpeg / png frames
  /ground_truth/labels            sensor_msgs/Image mono16          pixel = object label (1..N), 0 = background, or
  /ground_truth/labels/compressed sensor_msgs/CompressedImage       the same label image as a 16-bit png
  /ground_truth/label_info        vision_msgs/LabelInfo             class id -> class name, once per sequence
  /ground_truth/prompts           ausm_ros/ObjectPrompt             ADD with the object's mask, on its first frame
  /ground_truth/sequence          std_msgs/String (JSON)            a SequenceInfo, before the sequence's frames

Label images and prompts carry the header (stamp, frame_id) of the frame they annotate
and that frame's bag time. Object labels are 1..N within a sequence; the dataset's own ids
and each object's class are in the SequenceInfo. Several sequences share a bag one after
the other: a sequence is everything after its SequenceInfo record in bag time. They are
separated by a time gap (default 10 s) longer than the node's reset_on_gap_sec (default
5 s), so any player (ours or `ros2 bag play`) makes the node start each sequence afresh.
A bag without SequenceInfo records (any robot recording) is one sequence without ground truth.

A replay's output bag (written by `ausm-bag-replay`) holds what the node published, stamped
with the wall-clock time it arrived, plus the replay's own bookkeeping:

  /<stream>/instances, /<stream>/detections, /prompt_ack, /diagnostics   as received
  /replay/published   std_msgs/Header       one per camera frame sent: header of the frame, bag time = send time
  /replay/prompts     ausm_ros/ObjectPrompt the prompts as sent, bag time = send time
  /replay/info        std_msgs/String JSON  how the replay ran (ReplayInfo)
"""

import json
from dataclasses import asdict, dataclass, field
from typing import List

IMAGE_TOPIC = "/camera/image_raw"
GT_LABELS = "/ground_truth/labels"
GT_LABEL_INFO = "/ground_truth/label_info"
GT_PROMPTS = "/ground_truth/prompts"
GT_SEQUENCE = "/ground_truth/sequence"
REPLAY_PUBLISHED = "/replay/published"
REPLAY_PROMPTS = "/replay/prompts"
REPLAY_INFO = "/replay/info"
COMPRESSED_SUFFIX = "/compressed"

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)
LABEL_INFO = "vision_msgs/msg/LabelInfo"
OBJECT_PROMPT = "ausm_ros/msg/ObjectPrompt"
PROMPT_ACK = "ausm_ros/msg/PromptAck"
INSTANCES = "ausm_ros/msg/InstanceSegmentation"
DETECTIONS = "vision_msgs/msg/Detection2DArray"
DIAGNOSTICS = "diagnostic_msgs/msg/DiagnosticArray"
STRING = "std_msgs/msg/String"
HEADER = "std_msgs/msg/Header"
CLOCK = "rosgraph_msgs/msg/Clock"

DEFAULT_SEQUENCE_GAP_SEC = 10.0
BAG_FORMAT = "ausm-eval-bag/1"


@dataclass
class ObjectInfo:
    label: int  # pixel value in the label images, 1..N
    dataset_id: int  # the object's id in its dataset (palette index, annotation id, ...)
    category: int = -1  # index into SequenceInfo.class_names, -1 = no class
    class_name: str = ""


@dataclass
class SequenceInfo:
    name: str
    dataset: str
    index: int  # position in the bag, from 0
    num_frames: int
    width: int
    height: int
    first_stamp_ns: int
    last_stamp_ns: int
    fps: float
    has_ground_truth: bool
    class_names: List[str] = field(default_factory=list)
    objects: List[ObjectInfo] = field(default_factory=list)

    def to_json(self):
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text):
        data = json.loads(text)
        data["objects"] = [ObjectInfo(**o) for o in data.get("objects", [])]
        return cls(**data)


def gt_topics(compressed_labels):
    return {
        "labels": GT_LABELS + (COMPRESSED_SUFFIX if compressed_labels else ""),
        "label_info": GT_LABEL_INFO,
        "prompts": GT_PROMPTS,
        "sequence": GT_SEQUENCE,
    }


def stream_topics(stream, namespace=""):
    """The node's topics for one stream: it uses relative names, so they sit in its namespace
    (all but /diagnostics, which is absolute)."""
    ns = f"/{namespace.strip('/')}" if namespace.strip("/") else ""
    return {
        "instances": f"{ns}/{stream}/instances",
        "detections": f"{ns}/{stream}/detections",
        "prompts": f"{ns}/prompts",
        "prompt_ack": f"{ns}/prompt_ack",
        "reset_stream": f"{ns}/reset_stream",
        "diagnostics": "/diagnostics",
    }
