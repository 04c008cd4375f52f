"""Shared pytest setup: which tests need ROS, isolated DDS domains, and the node fixtures.

Markers (registered in pytest.ini): ``ros`` (needs the ROS 2 environment: rclpy and the
generated ausm_ros interfaces), ``subprocess`` (starts other processes) and ``export``
(compiles or exports). Without the ROS environment the ``ros`` tests are skipped and the
rest run, e.g. ``python -m pytest -m "not ros"``; test modules that import ROS packages at
the top skip themselves (``pytest.importorskip("ausm_ros.msg")``). A test that uses the
``ros_env`` fixture is a ``ros`` test whether or not its module says so.
"""

import importlib.util
import os
import random

import pytest

_SETUP_HINT = "run `bash scripts/setup_env.sh && source activate.sh` first (or use `bash scripts/run_tests.sh`)"


def _ros_available():
    """rclpy and our generated interfaces (ausm_ros.msg) can be imported."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in ("rclpy", "ausm_ros.msg"))
    except (ImportError, ValueError):
        return False


ROS_AVAILABLE = _ros_available()


def pytest_report_header(config):
    if not ROS_AVAILABLE:
        return f"ROS 2 environment not found: tests marked 'ros' are skipped ({_SETUP_HINT})"
    return None


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason=f"needs the ROS 2 environment: {_SETUP_HINT}")
    for item in items:
        if "ros_env" in item.fixturenames and not item.get_closest_marker("ros"):
            item.add_marker(pytest.mark.ros)
        if not ROS_AVAILABLE and item.get_closest_marker("ros"):
            item.add_marker(skip)


@pytest.fixture
def ros_env():
    """Environment for ROS processes of one test: its own DDS domain, loopback only."""
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(random.Random(os.getpid() ^ id(env)).randint(1, 100))
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    """A randomly initialised tiny model: the node tests compare the node with StreamSession."""
    import torch

    from ausm.checkpoint import save_checkpoint
    from ausm.model import build_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "random_tiny.safetensors"
    save_checkpoint(build_model("tiny"), path)
    return str(path)


@pytest.fixture
def node(ros_env, checkpoint, tmp_path):
    """Starts the perception node as its own process: node("name:=value", ...)."""
    from bench.node_client import start_node, stop_node

    procs = []

    def start(*params, log_name="node.log"):
        proc = start_node(ros_env, checkpoint, params, log_path=tmp_path / log_name)
        proc.log_path = tmp_path / log_name
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        stop_node(proc)
