"""One FrameResult (ausm.session) -> the messages the node publishes for that frame."""

import colorsys

import cv2
import numpy as np
from vision_msgs.msg import (
    BoundingBox2D,
    Detection2D,
    Detection2DArray,
    LabelInfo,
    ObjectHypothesis,
    ObjectHypothesisWithPose,
    Point2D,
    Pose2D,
    VisionClass,
)

from ausm_ros.image_conversion import mono8_to_image, mono16_to_image, rgb_to_image
from ausm_ros.msg import InstanceMask, InstanceSegmentation

MONO16_MAX = 65535


def class_label(class_id, class_names):
    """The class id string of a detection: the class name when known, '' when class-agnostic."""
    if class_id < 0:
        return ""
    if class_names and class_id < len(class_names):
        return class_names[class_id]
    return str(int(class_id))


def _bbox(box):
    x1, y1, x2, y2 = (float(v) for v in box)
    center = Pose2D(position=Point2D(x=(x1 + x2) / 2.0, y=(y1 + y2) / 2.0), theta=0.0)
    return BoundingBox2D(center=center, size_x=x2 - x1, size_y=y2 - y1)


def detections(result, header, class_names):
    dets = []
    for track_id, box, class_id, score in zip(result.track_ids, result.boxes, result.class_ids, result.scores):
        hypothesis = ObjectHypothesis(class_id=class_label(int(class_id), class_names), score=float(score))
        dets.append(
            Detection2D(
                header=header,
                results=[ObjectHypothesisWithPose(hypothesis=hypothesis)],
                bbox=_bbox(box),
                id=str(int(track_id)),
            )
        )
    return dets


def detection_array(result, header, class_names):
    return Detection2DArray(header=header, detections=detections(result, header, class_names))


def instance_segmentation(result, header, class_names, prompted_ids):
    """Detections with index-aligned masks cropped to their integer boxes."""
    height, width = result.image_size
    masks, origins = [], []
    for track_id, mask, box in zip(result.track_ids, result.masks, result.boxes):
        x1, y1 = int(np.floor(box[0])), int(np.floor(box[1]))
        x2, y2 = int(np.ceil(box[2])), int(np.ceil(box[3]))
        crop = mask[y1:y2, x1:x2].astype(np.uint8) * 255
        masks.append(InstanceMask(track_id=int(track_id), x_offset=x1, y_offset=y1, mask=mono8_to_image(crop, header)))
        origins.append(
            InstanceSegmentation.ORIGIN_PROMPT
            if int(track_id) in prompted_ids
            else InstanceSegmentation.ORIGIN_DISCOVERED
        )
    return InstanceSegmentation(
        header=header,
        image_width=width,
        image_height=height,
        detections=detections(result, header, class_names),
        masks=masks,
        origins=origins,
        new_track_ids=[int(t) for t in result.new_track_ids],
        released_track_ids=[int(t) for t in result.released_track_ids],
    )


def label_image(result, header):
    """mono16, pixel = track id. Ids above 65535 wrap (documented): the exact id is in the detections."""
    labels = result.label_image(dtype=np.uint32)
    wrapped = np.where(labels > MONO16_MAX, (labels - 1) % MONO16_MAX + 1, labels)
    return mono16_to_image(wrapped.astype(np.uint16), header)


def label_info(header, class_names, threshold):
    classes = [VisionClass(class_id=i, class_name=name) for i, name in enumerate(class_names)]
    return LabelInfo(header=header, class_map=classes, threshold=float(threshold))


def track_colour(track_id):
    """A stable, well-separated RGB colour per track id (golden-ratio hue steps)."""
    hue = (int(track_id) * 0.618033988749895) % 1.0
    return tuple(int(255 * c) for c in colorsys.hsv_to_rgb(hue, 0.85, 1.0))


def overlay(rgb, result, alpha, class_names=()):
    """The frame with translucent masks, boxes and 'id class' captions, for people to look at."""
    out = rgb.astype(np.float32)
    for track_id, mask in zip(result.track_ids, result.masks):
        out[mask] = (1 - alpha) * out[mask] + alpha * np.array(track_colour(track_id), dtype=np.float32)
    out = out.astype(np.uint8)
    for track_id, box, class_id in zip(result.track_ids, result.boxes, result.class_ids):
        colour = track_colour(track_id)
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x1, y1), (max(x1, x2 - 1), max(y1, y2 - 1)), colour, 1)
        caption = f"{int(track_id)} {class_label(int(class_id), class_names)}".strip()
        cv2.putText(out, caption, (x1, max(10, y1 - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA)
    return out


def overlay_image(rgb, result, header, alpha, class_names=()):
    return rgb_to_image(overlay(rgb, result, alpha, class_names), header)
