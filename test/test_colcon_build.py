"""colcon (from PyPI) builds the package in the no-ROS environment, and the install space works alone."""

import os
import shutil
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.ros, pytest.mark.subprocess, pytest.mark.export]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.skipif(shutil.which("colcon") is None, reason="colcon not installed (scripts/setup_env.sh installs it)")
def test_colcon_build_and_import_from_install_space(tmp_path):
    workspace = tmp_path / "ws"
    (workspace / "src").mkdir(parents=True)
    os.symlink(ROOT, workspace / "src" / "ausm_ros")
    build = subprocess.run(
        [
            "colcon",
            "--log-base",
            str(workspace / "log"),
            "build",
            "--base-paths",
            "src",
            "--event-handlers",
            "console_direct-",
            "--cmake-args",
            "-DBUILD_TESTING=OFF",
        ],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert build.returncode == 0, f"colcon build failed:\n{build.stdout[-4000:]}\n{build.stderr[-4000:]}"
    assert "ausm_ros" in build.stdout + build.stderr

    install = workspace / "install"
    # The checkout leaves the path: the install space must provide everything
    # but the underlay it was built against (ROS, or the wheels and .ros_prefix).
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and os.path.realpath(p) != ROOT
    )
    probe = (
        "import ausm_ros, ausm; from ausm_ros.msg import InstanceSegmentation, ObjectPrompt; "
        "from ausm_ros.srv import AddObject, RemoveObject, ResetStream; "
        "import ausm_ros.msg; print(ausm_ros.__file__); print(ausm.__file__); print(ausm_ros.msg.__file__); "
        "from ausm_ros.node_config import shipped_fastdds_profile; print(shipped_fastdds_profile()); "
        "import ausm_eval.metrics, ausm_ros.bag.scoring; print(ausm_eval.__file__)"
    )
    result = subprocess.run(
        [
            "bash",
            "-c",
            f"source '{install}/setup.bash' && cd / && '{sys.executable}' -c '{probe}' && "
            f"ls '{install}/ausm_ros/lib/ausm_ros/perception_node' "
            f"'{install}/ausm_ros/share/ausm_ros/launch/perception.launch.py'",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(str(install)), f"ausm_ros imported from {lines[0]}, not the install space"
    assert lines[1].startswith(str(install)), f"ausm imported from {lines[1]}, not the install space"
    assert lines[2].startswith(str(install)), f"ausm_ros.msg imported from {lines[2]}, not the install space"
    # The node (launch file and ausm-perception) finds the shipped Fast DDS profile there too.
    assert lines[3].startswith(str(install)) and lines[3].endswith("fastdds_large_data.xml"), lines[3]
    # The evaluation package is installed (the bag scorer needs it); the training package is not.
    assert lines[4].startswith(str(install)), f"ausm_eval imported from {lines[4]}, not the install space"
    assert not [p for p in install.rglob("ausm_train") if p.is_dir()], "ausm_train was installed"
