"""An mp4 of a replay for a person to look at: every input frame with the node's masks, ids and classes.

The drawing is ausm_ros.result_messages.overlay, the node's own debug overlay, applied to
the frames of the input bag and the InstanceSegmentation the node answered each with.
Frames the node never answered are shown as they are, marked "no output".
"""

from pathlib import Path

import cv2
import numpy as np

from ausm_ros.bag import BagError, messages
from ausm_ros.bag.messages import decode_instances
from ausm_ros.bag.reading import EvalBag
from ausm_ros.bag.scoring import match_outputs
from ausm_ros.result_messages import overlay


def _caption(image, text, scale):
    org = (4, image.shape[0] - 6)
    size = 0.28 * scale
    cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, size, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, size, (255, 255, 255), 1, cv2.LINE_AA)


def _fit(image, size):
    """Letterbox into (H, W): sequences of other sizes share the video."""
    h, w = image.shape[:2]
    if (h, w) == size:
        return image
    k = min(size[0] / h, size[1] / w)
    resized = cv2.resize(image, (max(1, int(w * k)), max(1, int(h * k))), interpolation=cv2.INTER_AREA)
    out = np.zeros((*size, 3), dtype=np.uint8)
    y, x = (size[0] - resized.shape[0]) // 2, (size[1] - resized.shape[1]) // 2
    out[y : y + resized.shape[0], x : x + resized.shape[1]] = resized
    return out


def write_overlay(
    input_bag, record, out_path, png_dir=None, png_count=4, fps=None, alpha=0.5, min_side=360, progress=None
):
    """Write the mp4 (codec mp4v) and `png_count` evenly spaced PNG frames; returns what was written."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    image_topic = (record.info or {}).get("image_topic")
    with EvalBag(input_bag, image_topic) as eval_bag:
        eval_bag.index()
        matched, _, _ = match_outputs(eval_bag, record)
        first = eval_bag.frames[0]
        scale = max(1, int(np.ceil(min_side / max(1, min(first.size)))))
        size = (first.size[0] * scale, first.size[1] * scale)
        rate = fps or next((s.fps for s in eval_bag.sequences if s.fps > 0), 10.0)
        writer = cv2.VideoWriter(str(out_path), cv2.VideoWriter_fourcc(*"mp4v"), float(rate), (size[1], size[0]))
        if not writer.isOpened():
            raise BagError(f"{out_path}: OpenCV cannot write an mp4v video here")
        png_at = (
            set(np.linspace(0, len(eval_bag.frames) - 1, png_count).round().astype(int).tolist())
            if png_dir and png_count > 0
            else set()
        )
        pngs = []
        bar = progress(total=len(eval_bag.frames), desc="overlay video", unit="frame") if progress else None
        try:
            camera = eval_bag.bag.messages([eval_bag.image_topic])
            for frame, message in zip(eval_bag.frames, camera):
                rgb = messages.frame_rgb(message.msg, eval_bag.image_type)
                if frame.index in matched:
                    decoded = decode_instances(matched[frame.index][1])
                    drawn = overlay(rgb, decoded, alpha, decoded.class_names)
                    count = len(decoded.track_ids)
                    label = f"{count} track{'' if count == 1 else 's'}"
                else:
                    drawn, label = rgb.copy(), "no output"
                big = cv2.resize(
                    drawn, (drawn.shape[1] * scale, drawn.shape[0] * scale), interpolation=cv2.INTER_NEAREST
                )
                big = _fit(big, size)
                _caption(big, f"{eval_bag.sequences[frame.sequence].name} #{frame.position}  {label}", scale)
                writer.write(np.ascontiguousarray(big[..., ::-1]))
                if frame.index in png_at:
                    Path(png_dir).mkdir(parents=True, exist_ok=True)
                    png = Path(png_dir) / f"frame_{frame.index:05d}.png"
                    cv2.imwrite(str(png), big[..., ::-1])
                    pngs.append(str(png))
                if bar:
                    bar.update(1)
        finally:
            writer.release()
            if bar:
                bar.close()
    return {
        "video": str(out_path),
        "frames": len(eval_bag.frames),
        "size": [size[1], size[0]],
        "fps": rate,
        "pngs": pngs,
    }
