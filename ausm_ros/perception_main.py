"""`ausm-perception`: start the perception node where `ros2 launch` is unavailable (the pip route).

    ausm-perception [--params-file config/perception.yaml] [--fastdds-profile PATH|none]
                    [--ros-args -p image_topics:=/cam/image_raw ...]

Reads the same YAML file as launch/perception.launch.py, and loads the same Fast DDS
profile (config/fastdds_large_data.xml, for camera-sized images), so both start the
same node with the same parameters and transport.
"""

import argparse
import os
import sys

SETUP_HINT = "set up the environment first: `bash scripts/setup_env.sh && source activate.sh`"


def default_params_file():
    checkout = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "config", "perception.yaml")
    if os.path.isfile(checkout):
        return os.path.normpath(checkout)
    try:
        from ament_index_python.packages import get_package_share_directory

        return os.path.join(get_package_share_directory("ausm_ros"), "config", "perception.yaml")
    except Exception:
        return None


def check_environment():
    """Fail with the command that fixes it, rather than an ImportError deep in rclpy."""
    try:
        import rclpy  # noqa: F401
        from vision_msgs import msg as _vision  # noqa: F401

        from ausm_ros import msg  # noqa: F401
    except ImportError as error:
        sys.exit(f"ausm-perception: ROS 2 environment not found ({error}); {SETUP_HINT}")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    ros_args = []
    if "--ros-args" in argv:
        at = argv.index("--ros-args")
        argv, ros_args = argv[:at], argv[at + 1 :]
    parser = argparse.ArgumentParser(
        prog="ausm-perception", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params-file", default=default_params_file(), help="node parameters (YAML)")
    parser.add_argument(
        "--fastdds-profile",
        default="",
        help="Fast DDS profile XML; default: the shipped large-data profile unless "
        "FASTDDS_DEFAULT_PROFILES_FILE is set; 'none': the middleware's defaults",
    )
    options = parser.parse_args(argv)
    from ausm_ros.node_config import ConfigError, fastdds_profile_env, shipped_fastdds_profile

    try:
        # Before rclpy creates the DDS participant, which reads the profile.
        os.environ.update(fastdds_profile_env(options.fastdds_profile, shipped_fastdds_profile()))
    except ConfigError as error:
        sys.exit(f"ausm-perception: {error}")
    check_environment()
    from ausm_ros.perception_node import main as node_main

    args = ["ausm-perception", "--ros-args"]
    if options.params_file:
        if not os.path.isfile(options.params_file):
            sys.exit(f"ausm-perception: parameter file '{options.params_file}' not found")
        args += ["--params-file", options.params_file]
    node_main(args + ros_args)


if __name__ == "__main__":
    main()
