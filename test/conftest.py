"""Shared pytest setup: the environment check and isolated DDS domains."""

import os
import random

import pytest

_SETUP_HINT = "run `bash scripts/setup_env.sh && source activate.sh` first (or use `bash scripts/run_tests.sh`)"


def pytest_sessionstart(session):
    if not os.environ.get("AUSM_ROS_ENV") and not os.environ.get("AMENT_PREFIX_PATH"):
        raise pytest.UsageError(f"ausm_ros environment not set up: {_SETUP_HINT}")


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
    from node_harness import start_node, stop_node

    procs = []

    def start(*params, log_name="node.log"):
        proc = start_node(ros_env, checkpoint, params, log_path=tmp_path / log_name)
        proc.log_path = tmp_path / log_name
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        stop_node(proc)
