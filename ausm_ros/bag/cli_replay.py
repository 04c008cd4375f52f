"""`ausm-bag-replay`: play an evaluation bag into the perception node over DDS, record its outputs, score them.

  ausm-bag-replay data/bags/synthetic_demo --checkpoint model.safetensors          # starts the node
  ausm-bag-replay BAG --attach --stream front                                       # a node already running
  ausm-bag-replay BAG --mode realtime --rate 0.5 --task unprompted --overlay

Writes OUT/<task>/ (output bag), OUT/<task>.node.log (when it starts the node), OUT/report.json,
and with --overlay OUT/<task>_overlay.mp4; prints a table per pass. Passes: 'prompted' sends the
bag's ground-truth prompts and scores J&F (the node runs with discovery off), 'unprompted' sends
none and scores video AP (discovery on); 'both' runs each, the prompted one only if the bag has prompts.
Started nodes use the network settings of this shell (ROS_DOMAIN_ID, ...).
"""

import argparse
import sys
from pathlib import Path

from ausm_ros.bag import cli_common
from ausm_ros.bag.replay import MODES, NodeOptions, ReplayOptions

PROG = "ausm-bag-replay"


def parser():
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    p.add_argument("--rate", type=cli_common.positive, default=1.0, help="realtime playback speed (default 1.0)")
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
        type=cli_common.node_parameter,
        default=[],
        metavar="NAME:=VALUE",
        help="started node: one more parameter (repeatable)",
    )
    node.add_argument("--node-name", default="ausm_perception")
    node.add_argument("--namespace", default="", help="the node's namespace")
    node.add_argument(
        "--stream", default=None, help="stream name (default: derived from the camera topic, as the node does)"
    )
    node.add_argument(
        "--node-timeout", type=cli_common.positive, default=120.0, help="seconds to wait for the node (default 120)"
    )
    node.add_argument(
        "--frame-timeout",
        type=cli_common.positive,
        default=30.0,
        help="lockstep: seconds to wait for a frame's output before resending it (default 30)",
    )
    cli_common.add_progress_flag(p)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    from ausm_ros.bag.evaluation import replay_and_score
    from ausm_ros.bag.overlay_video import write_overlay
    from ausm_ros.bag.replay_record import read_record
    from ausm_ros.perception_node import stream_name_from_topic

    bag = Path(args.bag)
    out = Path(args.out) if args.out else Path(f"{bag.name.rsplit('.', 1)[0]}_replay")
    image_topic = args.image_topic
    if args.stream is None:
        from ausm_ros.bag.bag_reader import BagFile
        from ausm_ros.bag.eval_bag import pick_image_topic

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
    bar = cli_common.progress(not args.no_progress and sys.stderr.isatty())
    report, path = replay_and_score(bag, out, args.task, options, node_options, image_topic, args.overwrite, bar)
    if args.overlay:
        for task in report["passes"]:
            video = write_overlay(bag, read_record(out / task), out / f"{task}_overlay.mp4", progress=bar)
            print(f"overlay: {video['video']} ({video['frames']} frames)")
    print(f"report: {path}")


def entry():
    sys.exit(cli_common.run(PROG, main, None))


if __name__ == "__main__":
    entry()
