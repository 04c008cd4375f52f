"""Messages as they are stored in bags (rosbags types): building them from arrays, and back.

Camera frames are decoded with ausm_ros.image_conversion, the node's own decoder, so
the pixels a score or an overlay is computed on are exactly those the node saw.
"""

import cv2
import numpy as np

from ausm_ros.bag import layout
from ausm_ros.bag.typestore import msg_class
from ausm_ros.image_conversion import ImageError, compressed_to_rgb, image_to_rgb, mask_from_image

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


# -- decoding ------------------------------------------------------------------------------
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
