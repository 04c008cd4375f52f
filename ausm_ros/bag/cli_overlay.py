"""`ausm-bag-overlay`: an mp4 (and a few PNGs) of a replay: input frames with the node's masks and track ids.

ausm-bag-overlay demo_replay/unprompted --out overlay.mp4 --png-dir frames
"""

import argparse
import sys

from ausm_ros.bag import cli_common
from ausm_ros.bag.errors import BagError

PROG = "ausm-bag-overlay"


def main(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("output_bag", help="an output bag of ausm-bag-replay (or a recording of the node's instances)")
    p.add_argument("--input", default=None, help="the bag that was replayed (default: from /replay/info)")
    p.add_argument("--out", default="overlay.mp4", help="mp4 file (default overlay.mp4)")
    p.add_argument("--png-dir", default=None, help="also save a few frames as PNG here")
    p.add_argument("--pngs", type=int, default=4, help="how many PNG frames, evenly spaced (default 4)")
    p.add_argument("--fps", type=float, default=None, help="video frame rate (default: the bag's)")
    p.add_argument("--alpha", type=float, default=0.5, help="mask opacity (default 0.5)")
    p.add_argument("--stream", default=None)
    cli_common.add_progress_flag(p)
    args = p.parse_args(argv)
    from ausm_ros.bag.overlay_video import write_overlay
    from ausm_ros.bag.replay_record import read_record

    record = read_record(args.output_bag, args.stream)
    source = args.input or (record.info or {}).get("input_bag")
    if not source:
        raise BagError(f"{args.output_bag}: no /replay/info names the input bag; pass --input")
    bar = cli_common.progress(not args.no_progress and sys.stderr.isatty())
    result = write_overlay(source, record, args.out, args.png_dir, args.pngs, args.fps, args.alpha, progress=bar)
    width, height = result["size"]
    print(f"{result['video']}: {result['frames']} frames, {width}x{height} at {result['fps']} fps")
    for png in result["pngs"]:
        print(f"  {png}")


def entry():
    sys.exit(cli_common.run(PROG, main, None))


if __name__ == "__main__":
    entry()
