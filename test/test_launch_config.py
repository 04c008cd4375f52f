"""The launch logic without the launch packages: arguments given override the config file,
arguments not given leave it alone, any namespace finds the file's entry, plain strings work."""

import importlib.util
import os
import sys
import types

import pytest
import yaml

from ausm_ros.node_config import (
    PARAMETERS,
    UNSET,
    ConfigError,
    as_string_list,
    convert,
    fastdds_profile_env,
    launch_parameters,
    read_config,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(ROOT, "config", "perception.yaml")


def declared(**given):
    """What launch hands the launch file: every declared argument, UNSET unless given."""
    args = {name: UNSET for name in PARAMETERS}
    args.update(config="", namespace="", use_sim_time=UNSET, fastdds_profile="")
    args.update(given)
    return args


@pytest.fixture
def user_config(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "ausm_perception": {
                    "ros__parameters": {
                        "image_topics": ["/front/image_raw", "/rear/image_raw"],
                        "compressed_image_topics": ["/top/compressed"],
                        "checkpoint": "/models/mine.safetensors",
                        "backend": "onnxruntime",
                        "device": "cpu",
                        "use_sim_time": True,
                        "image_qos_reliable": True,
                    }
                }
            }
        )
    )
    return str(path)


def test_config_file_values_survive_when_arguments_are_not_given(user_config):
    _, params = launch_parameters(declared(config=user_config))
    assert params["image_topics"] == ["/front/image_raw", "/rear/image_raw"]
    assert params["compressed_image_topics"] == ["/top/compressed"]
    assert params["checkpoint"] == "/models/mine.safetensors"
    assert (params["backend"], params["device"], params["use_sim_time"]) == ("onnxruntime", "cpu", True)


def test_given_arguments_override_the_file(user_config):
    _, params = launch_parameters(
        declared(
            config=user_config, backend="torch", use_sim_time="false", image_topics="['/a/image_raw', '/b/image_raw']"
        )
    )
    assert params["backend"] == "torch" and params["use_sim_time"] is False
    assert params["image_topics"] == ["/a/image_raw", "/b/image_raw"]
    assert params["device"] == "cpu"  # not given: still the file's


def test_namespace_still_finds_the_files_entry(user_config):
    for namespace in ("robot1", "/robot1", "/fleet/robot1"):
        ns, params = launch_parameters(declared(config=user_config, namespace=namespace))
        assert ns == namespace and params["checkpoint"] == "/models/mine.safetensors"
    # The shipped file uses '/**' and applies in any namespace too.
    _, params = launch_parameters(declared(namespace="robot1"), default_config=SHIPPED)
    assert params["image_topics"] == ["/camera/image_raw"] and "service_timeout_sec" in params


def test_namespaced_entry_wins_over_wildcard(tmp_path):
    path = tmp_path / "fleet.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "/**": {"ros__parameters": {"top_k": 3, "discovery": False}},
                "/robot1/ausm_perception": {"ros__parameters": {"top_k": 7}},
                "/robot2/ausm_perception": {"ros__parameters": {"top_k": 9}},
                "other_node": {"ros__parameters": {"top_k": 1}},
            }
        )
    )
    params = read_config(str(path), "robot1")
    assert params == {"top_k": 7, "discovery": False}


def test_plain_string_topic_becomes_a_list():
    _, params = launch_parameters(declared(image_topics="/cam/image_raw"), default_config=SHIPPED)
    assert params["image_topics"] == ["/cam/image_raw"]
    assert as_string_list("image_topics", "/cam/image_raw") == ["/cam/image_raw"]
    assert as_string_list("image_topics", ["/a", "/b"]) == ["/a", "/b"]


def test_every_parameter_is_settable_and_typed():
    texts = {bool: "true", int: "3", float: "0.25", str: "x"}
    for name, default in PARAMETERS.items():
        value = "[1, 2]" if name == "input_size" else "/t" if isinstance(default, list) else texts[type(default)]
        _, params = launch_parameters(declared(**{name: value}), default_config=SHIPPED)
        assert name in params and type(params[name]) is type(default), name
    _, params = launch_parameters(declared(image_qos_reliable="true"), default_config=SHIPPED)
    assert params["image_qos_reliable"] is True


def test_bad_values_are_one_clear_line():
    for name, text in (
        ("top_k", "many"),
        ("image_qos_reliable", "maybe"),
        ("input_size", "[1]"),
        ("foreground_threshold", ".nan"),
        ("image_topics", "[1, 2]"),
    ):
        with pytest.raises(ConfigError) as info:
            convert(name, text)
        assert name in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="not found"):
        launch_parameters(declared(config="/nonexistent/my.yaml"))


def test_fastdds_profile_choice(tmp_path, monkeypatch):
    shipped = os.path.join(ROOT, "config", "fastdds_large_data.xml")
    monkeypatch.delenv("FASTRTPS_DEFAULT_PROFILES_FILE", raising=False)
    monkeypatch.delenv("FASTDDS_DEFAULT_PROFILES_FILE", raising=False)
    assert fastdds_profile_env("", shipped)["FASTDDS_DEFAULT_PROFILES_FILE"] == shipped
    assert fastdds_profile_env("none", shipped) == {}
    monkeypatch.setenv("FASTRTPS_DEFAULT_PROFILES_FILE", "/user/profile.xml")
    assert fastdds_profile_env("", shipped) == {}  # the user's own profile wins
    with pytest.raises(ConfigError):
        fastdds_profile_env(str(tmp_path / "missing.xml"), shipped)


def _fake_launch_modules(monkeypatch, share):
    """Just enough of launch / launch_ros / ament_index_python to run the launch file's logic."""

    class Recorder:
        def __init__(self, *args, **kwargs):
            self.args, self.kwargs = args, kwargs

    fakes = {
        "launch": types.ModuleType("launch"),
        "launch.actions": types.ModuleType("launch.actions"),
        "launch_ros": types.ModuleType("launch_ros"),
        "launch_ros.actions": types.ModuleType("launch_ros.actions"),
        "ament_index_python": types.ModuleType("ament_index_python"),
        "ament_index_python.packages": types.ModuleType("ament_index_python.packages"),
    }
    fakes["launch"].LaunchDescription = Recorder
    fakes["launch.actions"].DeclareLaunchArgument = Recorder
    fakes["launch.actions"].OpaqueFunction = Recorder
    fakes["launch_ros.actions"].Node = Recorder
    fakes["ament_index_python.packages"].get_package_share_directory = lambda name: share
    for name, module in fakes.items():
        monkeypatch.setitem(sys.modules, name, module)


def test_launch_file_wires_the_logic(monkeypatch, user_config):
    _fake_launch_modules(monkeypatch, ROOT)
    spec = importlib.util.spec_from_file_location(
        "perception_launch", os.path.join(ROOT, "launch", "perception.launch.py")
    )
    launch_file = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch_file)
    description = launch_file.generate_launch_description()
    *declarations, opaque = description.args[0]
    names = {d.args[0] for d in declarations}
    assert set(PARAMETERS) <= names and {"config", "namespace", "use_sim_time"} <= names
    defaults = {d.args[0]: d.kwargs["default_value"] for d in declarations}
    monkeypatch.delenv("FASTRTPS_DEFAULT_PROFILES_FILE", raising=False)
    monkeypatch.delenv("FASTDDS_DEFAULT_PROFILES_FILE", raising=False)
    context = types.SimpleNamespace(
        launch_configurations=dict(
            defaults, config=user_config, namespace="robot1", image_topics="/cam/image_raw", image_qos_reliable="false"
        )
    )
    (node,) = opaque.kwargs["function"](context)
    assert node.kwargs["namespace"] == "robot1" and node.kwargs["name"] == "ausm_perception"
    (params,) = node.kwargs["parameters"]
    assert params["image_topics"] == ["/cam/image_raw"] and params["image_qos_reliable"] is False
    assert params["checkpoint"] == "/models/mine.safetensors" and params["use_sim_time"] is True
    assert node.kwargs["additional_env"]["FASTDDS_DEFAULT_PROFILES_FILE"].endswith("fastdds_large_data.xml")
