"""`python -m ausm_ros.bag {write,replay,score,overlay,demo} ...`: the bag tools without console scripts."""

import sys

from ausm_ros.bag import cli_common

COMMANDS = {
    "write": "cli_write",
    "replay": "cli_replay",
    "score": "cli_score",
    "overlay": "cli_overlay",
    "demo": "demo",
}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: python -m ausm_ros.bag {{{','.join(COMMANDS)}}} [--help | ...]", file=sys.stderr)
        return 2
    from importlib import import_module

    module = import_module(f"ausm_ros.bag.{COMMANDS[sys.argv[1]]}")
    return cli_common.run(f"ausm_ros.bag {sys.argv[1]}", module.main, sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
