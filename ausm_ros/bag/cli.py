"""The bag command-line tools: `ausm-bag-write`, `ausm-bag-replay`, `ausm-bag-score` and
`ausm-bag-overlay` (also `python -m ausm_ros.bag write|replay|score|overlay ...`).

Each tool is a ``*_main(argv)`` that raises BagError for a bad bag, and a ``*_entry()``
(the console script) that ends with one clear line and exit code 2 for it (``run``).
What the tools share comes first: error handling, progress bars, argument types.
"""

import argparse
import functools
import logging
import sys
from pathlib import Path

import yaml

from ausm.config import parse_size
from ausm_ros.bag import BagError
from ausm_ros.bag.replay import MODES, NodeOptions, ReplayOptions
from ausm_ros.bag.writing import (
    IMAGE_FORMATS,
    LABEL_FORMATS,
    EvalBagWriter,
    WriteOptions,
    load_clip,
    open_source,
    select_videos,
    video_frames,
)

WRITE_PROG = "ausm-bag-write"
REPLAY_PROG = "ausm-bag-replay"
SCORE_PROG = "ausm-bag-score"
OVERLAY_PROG = "ausm-bag-overlay"


# -- shared ----------------------------------------------------------------------------------------


def progress(enabled):
    """A tqdm factory, or None when progress bars are off (not a terminal, or --no-progress)."""
    if not enabled:
        return None
    from tqdm import tqdm

    return functools.partial(tqdm, leave=False, dynamic_ncols=True)


def size(text):
    w, h = parse_size(text)
    if w < 8 or h < 8:
        raise argparse.ArgumentTypeError(f"size {text} is too small (at least 8x8)")
    return w, h


def positive(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def node_parameter(text):
    """'name:=value' with the value read as YAML, as `--ros-args -p` does."""
    if ":=" not in text:
        raise argparse.ArgumentTypeError(f"node parameter must be name:=value, not {text!r}")
    name, value = text.split(":=", 1)
    try:
        parsed = yaml.safe_load(value) if value != "" else ""
    except yaml.YAMLError:
        parsed = value
    return name.strip(), "" if parsed is None else parsed


def add_progress_flag(parser):
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(prog, main, argv):
    """Call main(argv); bag problems and node failures end the tool with one clear line."""
    try:
        return main(argv) or 0
    except BagError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


# -- ausm-bag-write --------------------------------------------------------------------------------

WRITE_DOC = """`ausm-bag-write`: a dataset (DAVIS, YouTube-VOS, MOSE, YouTube-VIS, OVIS, SA-V, synthetic) or a video
file -> an evaluation bag (camera frames + ground truth; layout in ausm_ros.bag.layout).

  ausm-bag-write synthetic data/bags/demo --videos 3 --frames 24 --size 128x128
  ausm-bag-write davis davis_val --root DAVIS --split val --image-format jpeg
  ausm-bag-write ytvis ytvis_valid --annotations ytvis/train.json --images ytvis/train/JPEGImages --videos 10
  ausm-bag-write video street --video street.mp4 --size 320x240
"""


def write_parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("out", help="the bag directory to create")
    bag = common.add_argument_group("bag")
    bag.add_argument(
        "--fps",
        type=positive,
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
    add_progress_flag(bag)
    pick = common.add_argument_group("which videos")
    pick.add_argument("--videos", type=int, default=None, help="the first N videos (synthetic: how many; default 3)")
    pick.add_argument("--names", default=None, help="comma-separated video names (instead of --videos)")
    pick.add_argument("--max-frames", type=int, default=None, help="at most this many frames per video")

    parser = argparse.ArgumentParser(
        prog=WRITE_PROG, description=WRITE_DOC, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="source", required=True, metavar="SOURCE")
    p = sub.add_parser("synthetic", parents=[common], help="ausm_train's synthetic videos (seeded)")
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--size", type=size, default=(128, 128), help="WxH (default 128x128)")
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
    p.add_argument("--size", type=size, default=None, help="resize frames to WxH")
    return parser


def write_main(argv=None):
    args = write_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"{WRITE_PROG}: %(message)s")
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
    bar = progress(not args.no_progress and sys.stderr.isatty())
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


# -- ausm-bag-replay -------------------------------------------------------------------------------

REPLAY_DOC = """`ausm-bag-replay`: play an evaluation bag into the perception node over DDS, record its outputs,
score them.

  ausm-bag-replay data/bags/synthetic_demo --checkpoint model.safetensors          # starts the node
  ausm-bag-replay BAG --attach --stream front                                       # a node already running
  ausm-bag-replay BAG --mode realtime --rate 0.5 --task unprompted --overlay

Writes OUT/<task>/ (output bag), OUT/<task>.node.log (when it starts the node), OUT/report.json,
and with --overlay OUT/<task>_overlay.mp4; prints a table per pass. Passes: 'prompted' sends the
bag's ground-truth prompts and scores J&F (the node runs with discovery off), 'unprompted' sends
none and scores video AP (discovery on); 'both' runs each, the prompted one only if the bag has prompts.
Started nodes use the network settings of this shell (ROS_DOMAIN_ID, ...).
"""


def replay_parser():
    p = argparse.ArgumentParser(
        prog=REPLAY_PROG, description=REPLAY_DOC, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("bag", help="evaluation bag (rosbag2 directory, .mcap or .db3)")
    p.add_argument("--out", default=None, help="output folder (default: <bag name>_replay)")
    p.add_argument("--task", choices=("both", "prompted", "unprompted"), default="both")
    p.add_argument(
        "--mode",
        choices=MODES,
        default="lockstep",
        help="lockstep: next frame when the previous frame's output arrived; realtime: at the recorded "
        "rate with /clock (node on use_sim_time) (default lockstep)",
    )
    p.add_argument("--rate", type=positive, default=1.0, help="realtime playback speed (default 1.0)")
    p.add_argument("--image-topic", default=None, help="camera topic in the bag (default: its only image topic)")
    p.add_argument("--overwrite", action="store_true", help="replace output bags from an earlier run")
    p.add_argument("--overlay", action="store_true", help="also write OUT/<task>_overlay.mp4")
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="output bag storage")
    node = p.add_argument_group("the node")
    node.add_argument("--attach", action="store_true", help="use a node that is already running; do not start one")
    node.add_argument(
        "--checkpoint",
        default=None,
        help="started node: checkpoint (default: the parameter file's, i.e. the bundled demo one)",
    )
    node.add_argument("--device", default=None, help="started node: auto | cpu | cuda (default: parameter file)")
    node.add_argument(
        "--num-threads",
        type=int,
        default=None,
        help="started node: CPU threads (default: parameter file; 0 = PyTorch's default)",
    )
    node.add_argument(
        "--params-file", default=None, help="started node: parameter YAML (default config/perception.yaml)"
    )
    node.add_argument(
        "-p",
        "--node-param",
        action="append",
        type=node_parameter,
        default=[],
        metavar="NAME:=VALUE",
        help="started node: one more parameter (repeatable)",
    )
    node.add_argument("--node-name", default="ausm_perception")
    node.add_argument("--namespace", default="", help="the node's namespace")
    node.add_argument(
        "--stream", default=None, help="stream name (default: derived from the camera topic, as the node does)"
    )
    node.add_argument("--node-timeout", type=positive, default=120.0, help="seconds to wait for the node (default 120)")
    node.add_argument(
        "--frame-timeout",
        type=positive,
        default=30.0,
        help="lockstep: seconds to wait for a frame's output before resending it (default 30)",
    )
    add_progress_flag(p)
    return p


def replay_main(argv=None):
    args = replay_parser().parse_args(argv)
    from ausm_ros.bag.overlay import write_overlay
    from ausm_ros.bag.reading import read_record
    from ausm_ros.bag.scoring import replay_and_score
    from ausm_ros.perception_node import stream_name_from_topic

    bag = Path(args.bag)
    out = Path(args.out) if args.out else Path(f"{bag.name.rsplit('.', 1)[0]}_replay")
    image_topic = args.image_topic
    if args.stream is None:
        from ausm_ros.bag.reading import BagFile, pick_image_topic

        with BagFile(bag) as b:
            image_topic = pick_image_topic(b, image_topic)
    stream = args.stream or stream_name_from_topic(image_topic, 0)
    options = ReplayOptions(
        mode=args.mode,
        rate=args.rate,
        frame_timeout_sec=args.frame_timeout,
        node_timeout_sec=args.node_timeout,
        stream=stream,
        namespace=args.namespace,
        node_name=args.node_name,
        storage=args.storage,
    )
    node_options = (
        None
        if args.attach
        else NodeOptions(
            checkpoint=args.checkpoint,
            device=args.device,
            num_threads=args.num_threads,
            params_file=args.params_file,
            extra=dict(args.node_param),
        )
    )
    bar = progress(not args.no_progress and sys.stderr.isatty())
    report, path = replay_and_score(bag, out, args.task, options, node_options, image_topic, args.overwrite, bar)
    if args.overlay:
        for task in report["passes"]:
            video = write_overlay(bag, read_record(out / task), out / f"{task}_overlay.mp4", progress=bar)
            print(f"overlay: {video['video']} ({video['frames']} frames)")
    print(f"report: {path}")


# -- ausm-bag-score --------------------------------------------------------------------------------

SCORE_DOC = """`ausm-bag-score`: score recorded output bags offline against an evaluation bag's ground truth.

  ausm-bag-score demo_replay/prompted demo_replay/unprompted            # input bag read from /replay/info
  ausm-bag-score recorded_outputs --ground-truth data/bags/synthetic_demo --task unprompted

Output bags from `ausm-bag-replay` carry everything needed. A plain recording of the node's
topics (`ros2 bag record /camera/instances /prompt_ack /diagnostics` during `ros2 bag play`) works
too: outputs are matched to frames by stamp and latency is measured from the header stamp.
"""


def score_main(argv=None):
    p = argparse.ArgumentParser(
        prog=SCORE_PROG, description=SCORE_DOC, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("outputs", nargs="+", help="output bags (one per pass)")
    p.add_argument("--ground-truth", default=None, help="the evaluation bag (default: the one the replay used)")
    p.add_argument(
        "--task",
        choices=("prompted", "unprompted"),
        default=None,
        help="default: from the output bag (prompted if it holds prompt acks)",
    )
    p.add_argument("--image-topic", default=None)
    p.add_argument("--stream", default=None, help="default: from the output bag, else 'camera'")
    p.add_argument("--namespace", default=None)
    p.add_argument("--node-name", default=None)
    p.add_argument("--report", default=None, help="write the JSON report here")
    p.add_argument(
        "--baselines",
        action="store_true",
        help="also print the prompted J&F beside the static and empty baselines (always in the report)",
    )
    add_progress_flag(p)
    args = p.parse_args(argv)
    from ausm_ros.bag.reading import read_record
    from ausm_ros.bag.scoring import baselines_table, score_offline, write_report

    ground_truth = args.ground_truth
    if ground_truth is None:
        info = read_record(args.outputs[0], args.stream, args.namespace, args.node_name).info or {}
        ground_truth = info.get("input_bag")
        if not ground_truth:
            raise BagError(f"{args.outputs[0]}: no /replay/info names the input bag; pass --ground-truth")
    bar = progress(not args.no_progress and sys.stderr.isatty())
    report = score_offline(
        ground_truth, args.outputs, args.task, args.image_topic, args.stream, args.namespace, args.node_name, bar
    )
    if args.baselines:
        for scored in report["passes"].values():
            text = baselines_table(scored)
            print(text if text else f"{scored['task']} pass: no J&F, no baselines")
    if args.report:
        print(f"report: {write_report(report, args.report)}")


# -- ausm-bag-overlay ------------------------------------------------------------------------------

OVERLAY_DOC = """`ausm-bag-overlay`: an mp4 (and a few PNGs) of a replay: input frames with the node's masks and
track ids.

ausm-bag-overlay demo_replay/unprompted --out overlay.mp4 --png-dir frames
"""


def overlay_main(argv=None):
    p = argparse.ArgumentParser(
        prog=OVERLAY_PROG, description=OVERLAY_DOC, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("output_bag", help="an output bag of ausm-bag-replay (or a recording of the node's instances)")
    p.add_argument("--input", default=None, help="the bag that was replayed (default: from /replay/info)")
    p.add_argument("--out", default="overlay.mp4", help="mp4 file (default overlay.mp4)")
    p.add_argument("--png-dir", default=None, help="also save a few frames as PNG here")
    p.add_argument("--pngs", type=int, default=4, help="how many PNG frames, evenly spaced (default 4)")
    p.add_argument("--fps", type=float, default=None, help="video frame rate (default: the bag's)")
    p.add_argument("--alpha", type=float, default=0.5, help="mask opacity (default 0.5)")
    p.add_argument("--stream", default=None)
    add_progress_flag(p)
    args = p.parse_args(argv)
    from ausm_ros.bag.overlay import write_overlay
    from ausm_ros.bag.reading import read_record

    record = read_record(args.output_bag, args.stream)
    source = args.input or (record.info or {}).get("input_bag")
    if not source:
        raise BagError(f"{args.output_bag}: no /replay/info names the input bag; pass --input")
    bar = progress(not args.no_progress and sys.stderr.isatty())
    result = write_overlay(source, record, args.out, args.png_dir, args.pngs, args.fps, args.alpha, progress=bar)
    width, height = result["size"]
    print(f"{result['video']}: {result['frames']} frames, {width}x{height} at {result['fps']} fps")
    for png in result["pngs"]:
        print(f"  {png}")


# -- console scripts and `python -m ausm_ros.bag` ------------------------------------------------
COMMANDS = {
    "write": (WRITE_PROG, write_main),
    "replay": (REPLAY_PROG, replay_main),
    "score": (SCORE_PROG, score_main),
    "overlay": (OVERLAY_PROG, overlay_main),
}


def write_entry():
    sys.exit(run(WRITE_PROG, write_main, None))


def replay_entry():
    sys.exit(run(REPLAY_PROG, replay_main, None))


def score_entry():
    sys.exit(run(SCORE_PROG, score_main, None))


def overlay_entry():
    sys.exit(run(OVERLAY_PROG, overlay_main, None))
