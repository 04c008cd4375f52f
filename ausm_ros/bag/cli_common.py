"""What the bag command-line tools share: error handling, progress bars, argument types."""

import argparse
import functools
import sys

import yaml

from ausm_ros.bag.errors import BagError


def progress(enabled):
    """A tqdm factory, or None when progress bars are off (not a terminal, or --no-progress)."""
    if not enabled:
        return None
    from tqdm import tqdm

    return functools.partial(tqdm, leave=False, dynamic_ncols=True)


def size(text):
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WxH, e.g. 320x240, not {text!r}") from None
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
