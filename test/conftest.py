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
