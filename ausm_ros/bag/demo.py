"""The bundled demo: the bundled synthetic bag replayed into the perception node with the bundled checkpoint.

    python -m ausm_ros.bag.demo [--checkpoint FILE] [--out demo_output]

Starts the node with loopback-only discovery (unless ROS_AUTOMATIC_DISCOVERY_RANGE is set)
in a DDS domain of its own unless ROS_DOMAIN_ID is set (a camera driver on this machine may
publish /camera/image_raw too), runs a prompted pass (ground-truth prompts, J&F) and an
unprompted pass (discovery, video AP), prints the tracks the node reported on every frame
of the unprompted pass and the score tables, and writes demo_output/overlay.mp4,
demo_output/frames/*.png and demo_output/report.json (output bags and node logs under
demo_output/replay/).
"""

import argparse
import importlib.util
import os
import shutil
import sys
from pathlib import Path

from ausm_ros.bag import BagError
from ausm_ros.bag.cli import add_progress_flag, progress, run

PROG = "ausm_ros.bag.demo"
CHECKOUT = Path(__file__).resolve().parents[2]


def bundled_bag():
    """data/bags/synthetic_demo of the checkout, else of an installed share/ausm_ros."""
    candidates = [CHECKOUT / "data" / "bags" / "synthetic_demo"]
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory("ausm_ros")) / "data" / "bags" / "synthetic_demo")
    except Exception:
        pass
    return next((c for c in candidates if (c / "metadata.yaml").exists()), candidates[0])


def bundled_checkpoint():
    """Where the node looks for its default checkpoint (found without importing torch)."""
    return Path(importlib.util.find_spec("ausm").origin).parent / "checkpoints" / "demo_tiny.safetensors"


def print_tracks(eval_bag, record, out=print):
    """One line per frame: each track's id, class, score and box, as the node reported them."""
    from ausm_ros.bag.messages import decode_instances
    from ausm_ros.bag.scoring import match_outputs

    matched, _, _ = match_outputs(eval_bag, record)
    for frame in eval_bag.frames:
        name = eval_bag.sequences[frame.sequence].name
        if frame.index not in matched:
            out(f"{name} #{frame.position:02d}: no output")
            continue
        d = decode_instances(matched[frame.index][1])
        tracks = [
            f"id {int(t)} {c or '-'} {s:.2f} [{b[0]:.0f},{b[1]:.0f},{b[2]:.0f},{b[3]:.0f}]"
            for t, c, s, b in zip(d.track_ids, d.classes, d.scores, d.boxes)
        ]
        out(f"{name} #{frame.position:02d}: " + ("; ".join(tracks) if tracks else "no tracks"))


def main(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=None, help="model (default: ausm/checkpoints/demo_tiny.safetensors)")
    p.add_argument("--bag", default=None, help="evaluation bag (default: data/bags/synthetic_demo)")
    p.add_argument("--out", default="demo_output", help="output folder (default demo_output)")
    p.add_argument("--device", default=None, help="auto | cpu | cuda (default: the node's parameter file, auto)")
    p.add_argument("--mode", choices=("lockstep", "realtime"), default="lockstep")
    p.add_argument("--task", choices=("both", "prompted", "unprompted"), default="both")
    add_progress_flag(p)
    args = p.parse_args(argv)
    checkpoint = args.checkpoint or str(bundled_checkpoint())
    bag = args.bag or str(bundled_bag())
    if not Path(checkpoint).is_file():
        raise BagError(
            f"checkpoint {checkpoint} not found"
            + (
                " (the bundled demo checkpoint is not in this checkout yet); pass --checkpoint FILE"
                if args.checkpoint is None
                else ""
            )
        )
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    if "ROS_DOMAIN_ID" not in os.environ:
        os.environ["ROS_DOMAIN_ID"] = str(1 + os.getpid() % 100)
        print(f"DDS domain {os.environ['ROS_DOMAIN_ID']} (set ROS_DOMAIN_ID to choose; loopback only)")
    from ausm_ros.bag.overlay import write_overlay
    from ausm_ros.bag.reading import EvalBag, read_record
    from ausm_ros.bag.replay import NodeOptions, ReplayOptions
    from ausm_ros.bag.scoring import replay_and_score, report_table, write_report

    out = Path(args.out)
    bar = progress(not args.no_progress and sys.stderr.isatty())
    report, _ = replay_and_score(
        bag,
        out / "replay",
        args.task,
        ReplayOptions(mode=args.mode),
        NodeOptions(checkpoint=checkpoint, device=args.device),
        overwrite=True,
        progress=bar,
        log=lambda text: text.startswith("warning") and print(text),
    )
    shown = "unprompted" if "unprompted" in report["passes"] else next(iter(report["passes"]))
    record = read_record(out / "replay" / shown)
    print(f"tracks per frame ({shown} pass):")
    with EvalBag(bag, record.info.get("image_topic")) as eval_bag:
        print_tracks(eval_bag.index(), record)
    if (out / "frames").exists():
        shutil.rmtree(out / "frames")
    video = write_overlay(bag, record, out / "overlay.mp4", out / "frames", png_count=4, progress=bar)
    report_path = write_report(report, out / "report.json")
    print()
    for scored in report["passes"].values():
        print(report_table(scored))
        print()
    print(f"overlay video: {video['video']} ({video['frames']} frames); frames: {', '.join(video['pngs'])}")
    print(f"report: {report_path}")


def entry():
    sys.exit(run(PROG, main, None))


if __name__ == "__main__":
    entry()
