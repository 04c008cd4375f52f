"""`ausm-bag-score`: score recorded output bags offline against an evaluation bag's ground truth.

  ausm-bag-score demo_replay/prompted demo_replay/unprompted            # input bag read from /replay/info
  ausm-bag-score recorded_outputs --ground-truth data/bags/synthetic_demo --task unprompted

Output bags from `ausm-bag-replay` carry everything needed. A plain recording of the node's
topics (`ros2 bag record /camera/instances /prompt_ack /diagnostics` during `ros2 bag play`) works
too: outputs are matched to frames by stamp and latency is measured from the header stamp.
"""

import argparse
import sys

from ausm_ros.bag import cli_common
from ausm_ros.bag.errors import BagError

PROG = "ausm-bag-score"


def main(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    cli_common.add_progress_flag(p)
    args = p.parse_args(argv)
    from ausm_ros.bag import report as report_io
    from ausm_ros.bag.evaluation import score_offline
    from ausm_ros.bag.replay_record import read_record

    ground_truth = args.ground_truth
    if ground_truth is None:
        info = read_record(args.outputs[0], args.stream, args.namespace, args.node_name).info or {}
        ground_truth = info.get("input_bag")
        if not ground_truth:
            raise BagError(f"{args.outputs[0]}: no /replay/info names the input bag; pass --ground-truth")
    bar = cli_common.progress(not args.no_progress and sys.stderr.isatty())
    report = score_offline(
        ground_truth, args.outputs, args.task, args.image_topic, args.stream, args.namespace, args.node_name, bar
    )
    if args.baselines:
        for scored in report["passes"].values():
            text = report_io.baselines_table(scored)
            print(text if text else f"{scored['task']} pass: no J&F, no baselines")
    if args.report:
        print(f"report: {report_io.write_json(report, args.report)}")


def entry():
    sys.exit(cli_common.run(PROG, main, None))


if __name__ == "__main__":
    entry()
