"""The messages in our bags (rosbags types): the type store that knows our interfaces,
building messages from arrays, and decoding frames, label images, prompts and the node's
InstanceSegmentation back into arrays.

Camera frames are decoded with ausm_ros.image_conversion, the node's own decoder, so the
pixels a score or an overlay is computed on are exactly those the node saw.
"""

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from ausm_ros.bag import BagError, layout
from ausm_ros.image_conversion import ImageError, compressed_to_rgb, image_to_rgb, mask_from_image

# --------------------------------------------------------------------------------------------------
# A rosbags type store that knows our interfaces, so bags carry their real definitions.
#
# The standard ROS 2 types come from rosbags' Kilted store; ausm_ros/msg/* and
# vision_msgs/msg/* are parsed from their .msg files and registered. Bag metadata then
# holds the same RIHS01 type hashes that rosidl computes, which is what lets `ros2 bag`
# on a real ROS 2 install read our bags and play them into other nodes.

_CHECKOUT = Path(__file__).resolve().parents[2]


def _share_dir(package):
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        return None
    try:
        return Path(get_package_share_directory(package))
    except (PackageNotFoundError, ValueError):
        return None


def _msg_dir(package, checkout_dir):
    """Where a package's .msg files are: the source checkout first (it is what we run),
    then an installed share/ directory (colcon install, a ROS distribution)."""
    candidates = [checkout_dir, (_share_dir(package) or Path(os.devnull)) / "msg"]
    for candidate in candidates:
        if candidate.is_dir() and any(candidate.glob("*.msg")):
            return candidate
    raise BagError(
        f"cannot find the {package} message definitions (looked in "
        f"{', '.join(str(c) for c in candidates)}); source activate.sh or install ausm_ros"
    )


def _read_package(package, directory):
    types = {}
    for path in sorted(directory.glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(encoding="utf-8"), f"{package}/msg/{path.stem}"))
    return types


@functools.lru_cache(maxsize=1)
def typestore():
    store = get_typestore(Stores.ROS2_KILTED)
    types = {}
    vision_msgs = _CHECKOUT / "interfaces" / "vision_msgs" / "msg"
    types.update(_read_package("vision_msgs", _msg_dir("vision_msgs", vision_msgs)))
    types.update(_read_package("ausm_ros", _msg_dir("ausm_ros", _CHECKOUT / "msg")))
    store.register(types)
    return store


def msg_class(msgtype):
    """The rosbags message class of e.g. 'sensor_msgs/msg/Image'."""
    return typestore().types[msgtype]


# --------------------------------------------------------------------------------------------------
# Messages as they are stored in bags (rosbags types): building them from arrays, and back.
#
# Camera frames are decoded with ausm_ros.image_conversion, the node's own decoder, so
# the pixels a score or an overlay is computed on are exactly those the node saw.

NS = 1_000_000_000


def stamp_ns(stamp):
    return int(stamp.sec) * NS + int(stamp.nanosec)


def time_msg(ns):
    sec, nanosec = divmod(int(ns), NS)
    return msg_class("builtin_interfaces/msg/Time")(sec=sec, nanosec=nanosec)


def header(ns, frame_id):
    return msg_class(layout.HEADER)(stamp=time_msg(ns), frame_id=frame_id)


def _raw_image(pixels, hdr, encoding, bytes_per_pixel, dtype):
    height, width = pixels.shape[:2]
    data = np.frombuffer(np.ascontiguousarray(pixels, dtype=dtype).tobytes(), dtype=np.uint8)
    return msg_class(layout.IMAGE)(
        header=hdr,
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=width * bytes_per_pixel,
        data=data,
    )


def rgb_image(rgb, hdr):
    return _raw_image(rgb, hdr, "rgb8", 3, np.uint8)


def mono8_image(mono, hdr):
    return _raw_image(mono, hdr, "mono8", 1, np.uint8)


def label_image(labels, hdr):
    return _raw_image(labels, hdr, "mono16", 2, "<u2")


def _compressed(hdr, fmt, encoded):
    return msg_class(layout.COMPRESSED_IMAGE)(header=hdr, format=fmt, data=np.frombuffer(encoded, dtype=np.uint8))


def compressed_rgb(rgb, hdr, codec="jpeg", jpeg_quality=90):
    """image_transport's 'compressed' layout: format '<encoding>; <codec> compressed bgr8'."""
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if codec == "jpeg" else [cv2.IMWRITE_PNG_COMPRESSION, 9]
    ok, encoded = cv2.imencode(".jpg" if codec == "jpeg" else ".png", np.ascontiguousarray(rgb[..., ::-1]), params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {rgb.shape} frame as {codec}")
    return _compressed(hdr, f"rgb8; {codec} compressed bgr8", encoded.tobytes())


def compressed_labels(labels, hdr):
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(labels, dtype=np.uint16), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise ValueError("OpenCV could not encode a label image as 16-bit png")
    return _compressed(hdr, "mono16; png compressed mono16", encoded.tobytes())


def label_info(hdr, class_names):
    vision_class = msg_class("vision_msgs/msg/VisionClass")
    return msg_class(layout.LABEL_INFO)(
        header=hdr, class_map=[vision_class(class_id=i, class_name=n) for i, n in enumerate(class_names)], threshold=0.0
    )


def object_prompt(hdr, prompt_id, object_id, mask, class_name="", stream="", action=0):
    """An ADD (by default) prompt carrying a full-size mono8 mask."""
    box = msg_class("vision_msgs/msg/BoundingBox2D")(
        center=msg_class("vision_msgs/msg/Pose2D")(
            position=msg_class("vision_msgs/msg/Point2D")(x=0.0, y=0.0), theta=0.0
        ),
        size_x=0.0,
        size_y=0.0,
    )
    mask_msg = mono8_image((np.asarray(mask) > 0).astype(np.uint8) * 255, hdr)
    return msg_class(layout.OBJECT_PROMPT)(
        header=hdr,
        stream=stream,
        prompt_id=int(prompt_id),
        action=int(action),
        object_id=int(object_id),
        points=[],
        has_box=False,
        box=box,
        mask=mask_msg,
        class_id=class_name,
    )


def string(text):
    return msg_class(layout.STRING)(data=text)


def clock(ns):
    return msg_class(layout.CLOCK)(clock=time_msg(ns))


def frame_rgb(msg, msgtype):
    """HxWx3 uint8 RGB of a camera message, decoded as the node decodes it."""
    return compressed_to_rgb(msg) if msgtype == layout.COMPRESSED_IMAGE else image_to_rgb(msg)


def labels(msg, msgtype):
    """[H, W] uint16 label image from a mono16 Image or a 16-bit png CompressedImage."""
    if msgtype == layout.COMPRESSED_IMAGE:
        decoded = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_UNCHANGED)
        if decoded is None or decoded.ndim != 2:
            raise ImageError(f"label image is not a single-channel png ({msg.format})")
        return decoded.astype(np.uint16)
    if msg.encoding not in ("mono16", "16UC1"):
        raise ImageError(f"label image encoding must be mono16, got '{msg.encoding}'")
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.asarray(msg.data, dtype=np.uint8)
    if step < 2 * width or data.size < step * height:
        raise ImageError(f"label image {width}x{height} with step {step} holds only {data.size} bytes")
    rows = data[: step * height].reshape(height, step)[:, : 2 * width]
    return rows.copy().view(">u2" if msg.is_bigendian else "<u2").astype(np.uint16)


def prompt_mask(msg):
    """The bool [H, W] mask of an ObjectPrompt."""
    return mask_from_image(msg.mask, (int(msg.mask.height), int(msg.mask.width)))


# --------------------------------------------------------------------------------------------------
# InstanceSegmentation messages back into full-size masks, per track.


@dataclass
class DecodedFrame:
    """What the node reported for one frame. The attribute names are those of
    ausm.session.FrameResult that result_messages.overlay reads."""

    image_size: tuple  # (H, W)
    track_ids: np.ndarray  # uint32 [K]
    masks: np.ndarray  # bool [K, H, W]
    boxes: np.ndarray  # float32 [K, 4] x1 y1 x2 y2
    classes: list  # class id strings ('' = class-agnostic)
    scores: np.ndarray  # float64 [K]

    @property
    def class_names(self):
        return sorted(set(self.classes))

    @property
    def class_ids(self):
        """Indices into class_names, so overlay() can caption each track with its class string."""
        names = self.class_names
        return np.array([names.index(c) for c in self.classes], dtype=np.int64)


def decode_instances(msg):
    height, width = int(msg.image_height), int(msg.image_width)
    if len(msg.masks) != len(msg.detections):
        raise ValueError(f"{len(msg.detections)} detections but {len(msg.masks)} masks")
    masks = np.zeros((len(msg.masks), height, width), dtype=bool)
    ids, boxes, classes, scores = [], [], [], []
    for k, (det, inst) in enumerate(zip(msg.detections, msg.masks)):
        crop = mask_from_image(inst.mask, (int(inst.mask.height), int(inst.mask.width)))
        y, x = int(inst.y_offset), int(inst.x_offset)
        if y + crop.shape[0] > height or x + crop.shape[1] > width:
            raise ValueError(f"mask of track {inst.track_id} reaches outside the {width}x{height} image")
        masks[k, y : y + crop.shape[0], x : x + crop.shape[1]] = crop
        ids.append(int(inst.track_id))
        b = det.bbox
        cx, cy = b.center.position.x, b.center.position.y
        boxes.append((cx - b.size_x / 2, cy - b.size_y / 2, cx + b.size_x / 2, cy + b.size_y / 2))
        hypothesis = det.results[0].hypothesis if len(det.results) else None
        classes.append(hypothesis.class_id if hypothesis else "")
        scores.append(float(hypothesis.score) if hypothesis else 0.0)
    return DecodedFrame(
        (height, width),
        np.array(ids, dtype=np.uint32),
        masks,
        np.array(boxes, dtype=np.float32).reshape(-1, 4),
        classes,
        np.array(scores, dtype=np.float64),
    )


def reported_tracks(msg):
    """track id -> (class id string, score) of one InstanceSegmentation, masks left encoded."""
    out = {}
    for det in msg.detections:
        hypothesis = det.results[0].hypothesis if len(det.results) else None
        out[int(det.id)] = (hypothesis.class_id, float(hypothesis.score)) if hypothesis else ("", 0.0)
    return out


def category_of(class_string, class_names):
    """A reported class string -> the ground truth's category index (-1: unknown / none).
    Names are looked up in the dataset's class list; a bare number is taken as an index
    (a model trained on the dataset, without names in its checkpoint)."""
    if class_string in class_names:
        return class_names.index(class_string)
    if class_string.isdigit():
        return int(class_string)
    return -1
