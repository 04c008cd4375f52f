"""The node's parameters, and how a config file plus launch arguments become them.

No ROS import on purpose: the launch file (which needs the `launch` packages, not
installable from PyPI) only wraps ``launch_parameters`` below, so CI can test the
whole argument-to-parameter logic without them; the node declares ``PARAMETERS``.

Rules (issue: launch arguments that silently lost to the file or vice versa):
  * every node parameter is also a launch argument; an argument the user did not
    give keeps the sentinel ``UNSET`` and overrides nothing, so the config file wins;
  * the config file's entry for the node is found whatever namespace the node runs
    in (``ausm_perception``, ``/ausm_perception``, ``/**``, ``/ns/ausm_perception``);
  * values are converted to the parameter's type here, with one clear error line
    (``ConfigError``) instead of an exception from deep inside rclpy.
"""

import math
import os
from typing import Any, Dict, Mapping, Optional, Tuple

import yaml

NODE_NAME = "ausm_perception"

# name -> default; the default's type is the parameter's type. Documented in
# config/perception.yaml (every one of them must be settable from `ros2 launch`).
PARAMETERS: Dict[str, Any] = {
    "image_topics": ["/camera/image_raw"],
    "compressed_image_topics": [""],
    "stream_names": [""],
    "image_qos_depth": 1,
    "image_qos_reliable": False,
    "checkpoint": "",
    "backend": "auto",
    "device": "auto",
    "onnx_file": "",
    "cache_dir": "",
    "force_rebuild": False,
    "build_only": False,
    "input_size": [0, 0],
    "num_threads": 0,
    "discovery": True,
    "foreground_threshold": 0.5,
    "top_k": 10,
    "release_after_frames": 30,
    "box_cut": "learned",
    "reset_on_gap_sec": 5.0,
    "max_backward_jump_sec": 1.0,
    "expected_rate_hz": 0.0,
    "prompt_horizon_sec": 10.0,
    "publish_label_image": True,
    "overlay_alpha": 0.5,
    "diagnostics_period_sec": 1.0,
    "diagnostics_window_sec": 10.0,
    "service_timeout_sec": 5.0,
    "log_throttle_sec": 2.0,
    "state_dir": "",
    "save_state_on_shutdown": False,
    "load_state_on_start": False,
}

# Parameters whose value may be a plain string on the command line ("/cam/image_raw"):
# they are declared with dynamic typing and normalised to a list by ``as_string_list``.
STRING_LISTS = ("image_topics", "compressed_image_topics", "stream_names")

# Launch arguments that are not node parameters.
LAUNCH_ONLY = {
    "config": "parameter file (YAML); its entry for the node is used whatever the namespace",
    "namespace": "namespace of the node and its topics",
    "use_sim_time": "follow /clock (bag replay)",
    "fastdds_profile": "Fast DDS profile XML for the node's participant; '' = the one shipped in "
    "config/, 'none' = the middleware's defaults",
}

# The default of every parameter launch argument: "not given, keep the config file's value".
UNSET = "<from config>"


class ConfigError(ValueError):
    """A configuration the node cannot run with; str() is the whole story in one line."""


def _type_name(default):
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, list):
        return f"list of {_type_name(default[0])}" if default else "list"
    return type(default).__name__


def as_string_list(name: str, value: Any) -> list:
    """A topic list given as a list, or as one plain string (`image_topics:=/cam/image_raw`)."""
    if value is None:
        return [""]
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):  # a YAML list written as a string
            value = _parse_yaml(name, text)
        else:
            return [text]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value] or [""]
    raise ConfigError(f"parameter '{name}' must be a topic name or a list of them, got {value!r}")


def _parse_yaml(name, text):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"parameter '{name}': cannot read {text!r} ({str(error).splitlines()[0]})") from None


def convert(name: str, value: Any) -> Any:
    """``value`` (a launch string or a YAML value) as the type of parameter ``name``."""
    if name not in PARAMETERS:
        if name == "use_sim_time":
            return convert_bool(name, value)
        raise ConfigError(f"unknown parameter '{name}' (known: {', '.join(sorted(PARAMETERS))})")
    default = PARAMETERS[name]
    if name in STRING_LISTS:
        return as_string_list(name, value)
    if isinstance(default, str):
        # A launch argument is a string already; a YAML value like 5 is still meant as text.
        return "" if value is None else str(value)
    if isinstance(value, str):
        value = _parse_yaml(name, value) if value.strip() else None
    if isinstance(default, bool):
        return convert_bool(name, value)
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise ConfigError(f"parameter '{name}' must be an integer, got {value!r}")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"parameter '{name}' must be a finite number, got {value!r}")
        return float(value)
    if isinstance(default, list):  # input_size: two integers
        if (
            not isinstance(value, (list, tuple))
            or len(value) != len(default)
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            raise ConfigError(
                f"parameter '{name}' must be a {_type_name(default)} of {len(default)} entries, got {value!r}"
            )
        return [int(v) for v in value]
    raise ConfigError(f"parameter '{name}' has no conversion")  # a new type in PARAMETERS


def convert_bool(name: str, value: Any) -> bool:
    if isinstance(value, str):
        value = _parse_yaml(name, value)
    if not isinstance(value, bool):
        raise ConfigError(f"parameter '{name}' must be true or false, got {value!r}")
    return value


def _node_keys(namespace: str):
    """Top-level keys of a ROS parameter file that address this node in ``namespace``."""
    ns = "/" + namespace.strip("/") if namespace.strip("/") else ""
    return ("/**", f"/**/{NODE_NAME}", NODE_NAME, f"/{NODE_NAME}", f"{ns}/{NODE_NAME}", f"{ns.lstrip('/')}/{NODE_NAME}")


def read_config(path: str, namespace: str = "") -> Dict[str, Any]:
    """The node's parameters in a ROS parameter file, typed, for a node in ``namespace``.
    Entries for other nodes are ignored; wildcard entries come first so the node's own win."""
    if not os.path.isfile(path):
        raise ConfigError(f"parameter file '{path}' not found")
    try:
        with open(path) as f:
            content = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"parameter file '{path}' cannot be read: {str(error).splitlines()[0]}") from None
    if not isinstance(content, dict):
        raise ConfigError(f"parameter file '{path}' is not a mapping of node names to ros__parameters")
    params: Dict[str, Any] = {}
    for key in dict.fromkeys(_node_keys(namespace)):  # ordered, without duplicates
        entry = content.get(key)
        if entry is None:
            continue
        values = entry.get("ros__parameters") if isinstance(entry, dict) else None
        if not isinstance(values, dict):
            raise ConfigError(f"parameter file '{path}': '{key}' has no ros__parameters mapping")
        for name, value in values.items():
            if name in PARAMETERS or name == "use_sim_time":
                params[name] = convert(name, value)
            # Unknown names are left to the node, which ignores undeclared parameters.
    return params


def launch_parameters(arguments: Mapping[str, str], default_config: Optional[str] = None) -> Tuple[str, Dict[str, Any]]:
    """(namespace, parameters) for the node from launch arguments (all strings).

    ``arguments`` may hold every declared argument: those still ``UNSET`` (or absent)
    were not given and change nothing; the config file's values come first, then the
    arguments the user gave."""
    namespace = (arguments.get("namespace") or "").strip()
    config = arguments.get("config") or default_config
    params = read_config(config, namespace) if config and config != UNSET else {}
    for name, value in arguments.items():
        if name in LAUNCH_ONLY and name != "use_sim_time":
            continue
        if value == UNSET or (name not in PARAMETERS and name != "use_sim_time"):
            continue  # not given, or a launch argument of someone else
        params[name] = convert(name, value)
    return namespace, params


PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")


def fastdds_profile_env(choice: str, shipped: Optional[str]) -> Dict[str, str]:
    """Environment that makes Fast DDS load the profile ``choice`` ('' = ``shipped``,
    'none' = keep the middleware's defaults). A profile already set in the environment
    by the user wins over the shipped one."""
    choice = (choice or "").strip()
    if choice.lower() == "none":
        return {}
    if not choice and any(os.environ.get(v) for v in PROFILE_VARIABLES):
        return {}
    path = choice or shipped
    if not path:
        return {}
    if not os.path.isfile(path):
        raise ConfigError(f"Fast DDS profile '{path}' not found")
    return {"FASTDDS_DEFAULT_PROFILES_FILE": path}


def shipped_fastdds_profile() -> Optional[str]:
    """config/fastdds_large_data.xml of a checkout, or of the installed package's share folder."""
    checkout = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "config", "fastdds_large_data.xml")
    if os.path.isfile(checkout):
        return os.path.normpath(checkout)
    try:
        from ament_index_python.packages import get_package_share_directory

        path = os.path.join(get_package_share_directory("ausm_ros"), "config", "fastdds_large_data.xml")
        return path if os.path.isfile(path) else None
    except Exception:
        return None
