"""python -m ausm_train.realdata --out DIR --split val --videos N --frames T --seed S

Writes videos composited from real imagery (``ausm_train.realdata.composite``) in the
DAVIS and/or YouTube-VIS layout, so they are scored by the same folder evaluators as
real data sets. ``--split val`` uses only images never used in training. The regions
carry no class: in YouTube-VIS they are all category ``object`` (class-agnostic AP).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import numpy as np
from tqdm import tqdm

from ausm.config import parse_size

from ..synthetic.writers import write_clips
from .composite import CompositeConfig, render_composite

CLASS_NAMES = ("object",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ausm_train.realdata", description=__doc__.split("\n\n")[1])
    parser.add_argument("--out", required=True, help="output folder; formats go to OUT/davis and OUT/ytvis")
    parser.add_argument("--split", choices=("train", "val"), default="val", help="which real images to use")
    parser.add_argument("--videos", type=int, default=40)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument(
        "--size", type=parse_size, default=(128, 96), help="frame size WxH, width x height (default 128x96)"
    )
    parser.add_argument("--seed", type=int, default=1000, help="video i depends only on (seed, i)")
    parser.add_argument("--min-objects", type=int, default=1)
    parser.add_argument("--max-objects", type=int, default=4)
    parser.add_argument("--format", choices=("davis", "ytvis", "both"), default="both")
    args = parser.parse_args(argv)
    if args.videos < 1 or args.frames < 1:
        parser.error("--videos and --frames must be positive")
    width, height = args.size
    try:
        config = CompositeConfig(
            height=height,
            width=width,
            num_frames=args.frames,
            split=args.split,
            min_objects=args.min_objects,
            max_objects=args.max_objects,
        )
    except ValueError as error:
        parser.error(str(error))
    formats = ("davis", "ytvis") if args.format == "both" else (args.format,)

    def clips():
        for i in range(args.videos):
            clip = render_composite(config, args.seed, i)
            yield dataclasses.replace(clip, category_ids=np.zeros(clip.num_instances, np.int64))

    roots = write_clips(
        tqdm(clips(), total=args.videos, desc=f"{args.split} composites", unit="video"),
        args.out,
        formats,
        CLASS_NAMES,
        split=args.split,
    )
    for name, root in roots.items():
        print(f"{name}: {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
