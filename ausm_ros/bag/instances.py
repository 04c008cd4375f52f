"""InstanceSegmentation messages back into full-size masks, per track."""

from dataclasses import dataclass

import numpy as np

from ausm_ros.image_conversion import mask_from_image


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


def decode(msg):
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
