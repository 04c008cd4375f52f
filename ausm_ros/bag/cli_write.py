"""`ausm-bag-write`: a dataset (DAVIS, YouTube-VOS, MOSE, YouTube-VIS, OVIS, SA-V, synthetic) or a video
file -> an evaluation bag (camera frames + ground truth; layout in ausm_ros.bag.layout).

  ausm-bag-write synthetic data/bags/demo --videos 3 --frames 24 --size 128x128
  ausm-bag-write davis davis_val --root DAVIS --split val --image-format jpeg
  ausm-bag-write ytvis ytvis_valid --annotations ytvis/train.json --images ytvis/train/JPEGImages --videos 10
  ausm-bag-write video street --video street.mp4 --size 320x240
"""

import argparse
import logging
import sys

from ausm_ros.bag import cli_common
from ausm_ros.bag.dataset_to_bag import IMAGE_FORMATS, LABEL_FORMATS, EvalBagWriter, WriteOptions
from ausm_ros.bag.sources import load_clip, open_source, select_videos, video_frames

PROG = "ausm-bag-write"


def _parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("out", help="the bag directory to create")
    bag = common.add_argument_group("bag")
    bag.add_argument(
        "--fps",
        type=cli_common.positive,
        default=None,
        help="frame rate of the stamps (default 10; a video file's own rate)",
    )
    bag.add_argument(
        "--image-format",
        choices=IMAGE_FORMATS,
        default="raw",
        help="raw: sensor_msgs/Image rgb8; jpeg/png: sensor_msgs/CompressedImage (default raw)",
    )
    bag.add_argument("--jpeg-quality", type=int, default=90)
    bag.add_argument(
        "--label-format",
        choices=LABEL_FORMATS,
        default="png",
        help="ground-truth labels as mono16 Image (raw) or 16-bit png CompressedImage (default png)",
    )
    bag.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    bag.add_argument("--compress", action="store_true", help="zstd (mcap chunks / sqlite3 messages)")
    bag.add_argument("--frame-id", default="camera", help="header.frame_id of every frame (default camera)")
    bag.add_argument(
        "--image-topic",
        default="/camera/image_raw",
        help="camera topic; '/compressed' is appended for jpeg/png (default /camera/image_raw)",
    )
    bag.add_argument("--start-sec", type=float, default=1000.0, help="stamp of the first frame, seconds")
    bag.add_argument(
        "--sequence-gap",
        type=float,
        default=10.0,
        help="seconds between sequences; keep it above the node's reset_on_gap_sec (default 10)",
    )
    bag.add_argument("--overwrite", action="store_true", help="replace an existing bag at OUT")
    cli_common.add_progress_flag(bag)
    pick = common.add_argument_group("which videos")
    pick.add_argument("--videos", type=int, default=None, help="the first N videos (synthetic: how many; default 3)")
    pick.add_argument("--names", default=None, help="comma-separated video names (instead of --videos)")
    pick.add_argument("--max-frames", type=int, default=None, help="at most this many frames per video")

    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="source", required=True, metavar="SOURCE")
    p = sub.add_parser("synthetic", parents=[common], help="ausm_train's synthetic videos (seeded)")
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--size", type=cli_common.size, default=(128, 128), help="WxH (default 128x128)")
    p.add_argument("--seed", type=int, default=1000, help="data set seed (training uses 0; default 1000)")
    p.add_argument("--min-objects", type=int, default=1)
    p.add_argument("--max-objects", type=int, default=4)
    p = sub.add_parser("davis", parents=[common], help="DAVIS 2017 layout")
    p.add_argument("--root", required=True)
    p.add_argument("--split", default="val")
    p.add_argument("--resolution", default="480p")
    for name, text in (("ytvos", "YouTube-VOS layout"), ("mose", "MOSE (YouTube-VOS layout)")):
        p = sub.add_parser(name, parents=[common], help=text)
        p.add_argument("--root", required=True)
        p.add_argument("--split", default="train")
        p.add_argument("--with-categories", action="store_true", help="read object classes from meta.json")
    for name, text in (("ytvis", "YouTube-VIS json + frames"), ("ovis", "OVIS (YouTube-VIS format)")):
        p = sub.add_parser(name, parents=[common], help=text)
        p.add_argument("--annotations", required=True, help="the split's json")
        p.add_argument("--images", required=True, help="folder the json's file_names are relative to")
    p = sub.add_parser("sav", parents=[common], help="SA-V training layout (mp4 + json per video)")
    p.add_argument("--root", required=True)
    p = sub.add_parser("video", parents=[common], help="a plain video file (no ground truth)")
    p.add_argument("--video", required=True)
    p.add_argument("--size", type=cli_common.size, default=None, help="resize frames to WxH")
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(message)s")
    options = WriteOptions(
        fps=args.fps or 10.0,
        image_format=args.image_format,
        jpeg_quality=args.jpeg_quality,
        label_format=args.label_format,
        frame_id=args.frame_id,
        image_topic=args.image_topic,
        start_sec=args.start_sec,
        sequence_gap_sec=args.sequence_gap,
        storage=args.storage,
        compress=args.compress,
    )
    bar = cli_common.progress(not args.no_progress and sys.stderr.isatty())
    with EvalBagWriter(args.out, options, source_note=args.source, overwrite=args.overwrite) as writer:
        if args.source == "video":
            frames, fps = video_frames(args.video, args.max_frames, args.size)
            if bar:
                frames = bar(frames, desc="frames", unit="frame")
            writer.add_frames(args.video.rsplit("/", 1)[-1].rsplit(".", 1)[0], frames, fps=args.fps or fps or 10.0)
        else:
            kind = args.source
            extra = dict(
                root=getattr(args, "root", None),
                split=getattr(args, "split", "train"),
                annotations=getattr(args, "annotations", None),
                images=getattr(args, "images", None),
                resolution=getattr(args, "resolution", "480p"),
                with_categories=getattr(args, "with_categories", False),
            )
            if kind == "synthetic":
                extra.update(
                    videos=args.videos or 3,
                    frames=args.frames,
                    size=args.size,
                    seed=args.seed,
                    min_objects=args.min_objects,
                    max_objects=args.max_objects,
                )
            source = open_source(kind, **extra)
            names = [n for n in (args.names or "").split(",") if n]
            indices = select_videos(source, names, None if kind == "synthetic" else args.videos)
            for index in bar(indices, desc="videos", unit="video") if bar else indices:
                clip = load_clip(source, index, args.max_frames)
                if clip is not None:
                    writer.add_clip(clip, source.class_names)
    total = sum(s.num_frames for s in writer.sequences)
    print(f"{writer.path}: {len(writer.sequences)} sequences, {total} frames, camera topic {options.camera_topic}")
    for s in writer.sequences:
        gt = f"{len(s.objects)} objects" if s.has_ground_truth else "no ground truth"
        print(f"  {s.name}: {s.num_frames} frames {s.width}x{s.height}, {gt}")


def entry():
    sys.exit(cli_common.run(PROG, main, None))


if __name__ == "__main__":
    entry()
