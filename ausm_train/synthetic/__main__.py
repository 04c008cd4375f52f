"""python -m ausm_train.synthetic --out DIR --videos N --frames T --size WxH --seed S --format davis|ytvis|both

Size, frames and object counts default to the synthetic source of the demo training
config (ausm_train/configs/demo.yaml), the settings the demo checkpoint was trained on and
``python -m ausm_train eval`` evaluates with, so data written with the defaults is
comparable with both."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml
from tqdm import tqdm

from ausm.config import parse_size

from .scene import SyntheticConfig, generate_video
from .writers import write_clips

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"


def training_defaults(path: Path = DEMO_CONFIG) -> dict:
    """Generator settings of the first synthetic source of a training config, over
    SyntheticConfig's own defaults (which alone apply when the file has none)."""
    base = SyntheticConfig()
    out = {
        "height": base.height,
        "width": base.width,
        "num_frames": base.num_frames,
        "min_objects": base.min_objects,
        "max_objects": base.max_objects,
    }
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return out
    for source in (config.get("data") or {}).get("sources") or []:
        if source.get("kind") == "synthetic":
            generator = (source.get("args") or {}).get("config") or {}
            out.update({k: int(v) for k, v in generator.items() if k in out})
            break
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ausm_train.synthetic",
        description="Write a seeded synthetic video segmentation data set in the DAVIS and/or YouTube-VIS layout.",
    )
    parser.add_argument("--out", required=True, help="output folder; formats go to OUT/davis and OUT/ytvis")
    parser.add_argument("--videos", type=int, default=100, help="number of videos")
    defaults = training_defaults()
    parser.add_argument(
        "--frames",
        type=int,
        default=defaults["num_frames"],
        help="frames per video (default: the demo training config's, %(default)s)",
    )
    parser.add_argument(
        "--size",
        type=parse_size,
        default=(defaults["width"], defaults["height"]),
        help=f"frame size WxH, width x height (default: the demo training config's, "
        f"{defaults['width']}x{defaults['height']})",
    )
    parser.add_argument("--seed", type=int, default=0, help="data set seed (video i depends only on seed and i)")
    parser.add_argument("--format", choices=("davis", "ytvis", "both"), default="both")
    parser.add_argument("--split", default="train", help="split name (DAVIS ImageSets file, YouTube-VIS json)")
    parser.add_argument(
        "--min-objects",
        type=int,
        default=defaults["min_objects"],
        help="(default: the demo training config's, %(default)s)",
    )
    parser.add_argument(
        "--max-objects",
        type=int,
        default=defaults["max_objects"],
        help="(default: the demo training config's, %(default)s)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.videos < 1 or args.frames < 1:
        parser.error("--videos and --frames must be positive")
    width, height = args.size
    try:
        config = SyntheticConfig(
            height=height,
            width=width,
            num_frames=args.frames,
            min_objects=args.min_objects,
            max_objects=args.max_objects,
        )
    except ValueError as error:
        parser.error(str(error))
    formats = ("davis", "ytvis") if args.format == "both" else (args.format,)
    clips = (generate_video(config, args.seed, i) for i in range(args.videos))
    roots = write_clips(
        tqdm(clips, total=args.videos, desc="synthetic videos", unit="video"),
        args.out,
        formats,
        config.classes,
        split=args.split,
    )
    for name, root in roots.items():
        print(f"{name}: {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
