"""What the node tests share: the frames they send, the prompts, and the comparison of the
node's outputs with a StreamSession run on the same frames. (Starting the node and talking
to it over DDS: bench.node_client, which the benchmarks use too.)"""

import numpy as np
import torch
from ausm_ros.msg import ObjectPrompt, PromptPoint
from builtin_interfaces.msg import Time
from std_msgs.msg import Header
from vision_msgs.msg import BoundingBox2D, Point2D, Pose2D

from ausm.checkpoint import load_checkpoint
from ausm.session import SessionSettings, StreamSession

SETTINGS = SessionSettings(discovery=True, foreground_threshold=0.5, top_k=10, release_after_frames=30)


def moving_disc(n, seed, hw=(120, 160)):
    """Frames of a bright disc sliding over a fixed noisy background."""
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 120, (*hw, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0 : hw[0], 0 : hw[1]]
    frames = []
    for t in range(n):
        frame = background.copy()
        cx, cy = 30 + 8 * t, 40 + 3 * t
        frame[(xx - cx) ** 2 + (yy - cy) ** 2 < 15**2] = (240, 200, 40)
        frames.append(frame)
    return frames


def direct_results(checkpoint, frames):
    torch.set_num_threads(1)
    session = StreamSession(load_checkpoint(checkpoint), SETTINGS)
    return [session.step(f) for f in frames]


def decode_masks(msg):
    """Full-size bool masks of an InstanceSegmentation, keyed by track id."""
    out = {}
    for det, inst in zip(msg.detections, msg.masks):
        full = np.zeros((msg.image_height, msg.image_width), dtype=bool)
        crop = np.frombuffer(bytes(inst.mask.data), np.uint8).reshape(inst.mask.height, inst.mask.width) > 0
        full[inst.y_offset : inst.y_offset + crop.shape[0], inst.x_offset : inst.x_offset + crop.shape[1]] = crop
        assert det.id == str(inst.track_id)
        out[inst.track_id] = full
    return out


def assert_same(msgs, results):
    """Node outputs equal the session's, up to a consistent renaming of track ids."""
    rename = {}
    for msg, result in zip(msgs, results):
        got = decode_masks(msg)
        assert len(got) == len(result.track_ids)
        for track_id, mask in zip(result.track_ids, result.masks):
            matches = [t for t, m in got.items() if np.array_equal(m, mask)]
            assert matches, f"no published mask equals session track {track_id}"
            assert rename.setdefault(int(track_id), matches[0]) == matches[0], "track ids were not kept consistently"


def ns(sec):
    return int(sec * 1e9)


def prompt(prompt_id, stamp, action=ObjectPrompt.ADD, object_id=0, box=None, points=()):
    msg = ObjectPrompt(
        header=Header(stamp=Time(sec=stamp // 10**9, nanosec=stamp % 10**9), frame_id="cam"),
        stream="camera",
        prompt_id=prompt_id,
        action=action,
        object_id=object_id,
        points=[PromptPoint(x=x, y=y, positive=True) for x, y in points],
    )
    if box is not None:
        x1, y1, x2, y2 = box
        msg.has_box = True
        msg.box = BoundingBox2D(
            center=Pose2D(position=Point2D(x=(x1 + x2) / 2, y=(y1 + y2) / 2)),
            size_x=float(x2 - x1),
            size_y=float(y2 - y1),
        )
    return msg
