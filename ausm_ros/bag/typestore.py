"""A rosbags type store that knows our interfaces, so bags carry their real definitions.

The standard ROS 2 types come from rosbags' Kilted store; ausm_ros/msg/* and
vision_msgs/msg/* are parsed from their .msg files and registered. Bag metadata then
holds the same RIHS01 type hashes that rosidl computes, which is what lets `ros2 bag`
on a real ROS 2 install read our bags and play them into other nodes.
"""

import functools
import os
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from ausm_ros.bag.errors import BagError

_CHECKOUT = Path(__file__).resolve().parents[2]


def _share_dir(package):
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        return None
    try:
        return Path(get_package_share_directory(package))
    except (PackageNotFoundError, ValueError):
        return None


def _msg_dir(package, checkout_dir):
    """Where a package's .msg files are: the source checkout first (it is what we run),
    then an installed share/ directory (colcon install, a ROS distribution)."""
    candidates = [checkout_dir, (_share_dir(package) or Path(os.devnull)) / "msg"]
    for candidate in candidates:
        if candidate.is_dir() and any(candidate.glob("*.msg")):
            return candidate
    raise BagError(
        f"cannot find the {package} message definitions (looked in "
        f"{', '.join(str(c) for c in candidates)}); source activate.sh or install ausm_ros"
    )


def _read_package(package, directory):
    types = {}
    for path in sorted(directory.glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(encoding="utf-8"), f"{package}/msg/{path.stem}"))
    return types


@functools.lru_cache(maxsize=1)
def typestore():
    store = get_typestore(Stores.ROS2_KILTED)
    types = {}
    vision_msgs = _CHECKOUT / "interfaces" / "vision_msgs" / "msg"
    types.update(_read_package("vision_msgs", _msg_dir("vision_msgs", vision_msgs)))
    types.update(_read_package("ausm_ros", _msg_dir("ausm_ros", _CHECKOUT / "msg")))
    store.register(types)
    return store


def msg_class(msgtype):
    """The rosbags message class of e.g. 'sensor_msgs/msg/Image'."""
    return typestore().types[msgtype]
