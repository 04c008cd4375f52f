"""`python -m ausm_ros.bag {write,replay,score,overlay,demo} ...`: the bag tools without console scripts."""

import sys

from ausm_ros.bag.cli import COMMANDS, run

NAMES = (*COMMANDS, "demo")


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in NAMES:
        print(f"usage: python -m ausm_ros.bag {{{','.join(NAMES)}}} [--help | ...]", file=sys.stderr)
        return 2
    if sys.argv[1] == "demo":
        from ausm_ros.bag.demo import main as command
    else:
        command = COMMANDS[sys.argv[1]][1]
    return run(f"ausm_ros.bag {sys.argv[1]}", command, sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
