"""What each package may pull in: the robot side and the evaluation package never load the
training package (a ROS install does not carry it), and ausm_eval stays free of torch and ROS."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.subprocess


def loaded_after(statement):
    """The modules a fresh interpreter holds after running ``statement``."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def packages(modules, *names):
    return sorted(m for m in modules if m.split(".")[0] in names)


@pytest.mark.ros
def test_the_bag_scorer_and_the_bag_clis_load_no_training_module():
    modules = loaded_after(
        "import ausm_ros.bag.scoring, ausm_ros.bag.cli, ausm_ros.bag.demo, ausm_ros.bag.overlay, ausm_ros.bag.__main__"
    )
    assert "ausm_ros.bag.scoring" in modules and "ausm_eval.metrics" in modules
    assert packages(modules, "ausm_train") == []


def test_the_evaluation_package_loads_neither_torch_nor_ros_nor_the_other_packages():
    modules = loaded_after("import ausm_eval.metrics, ausm_eval.io, ausm_eval.segmentation, ausm_eval.errors")
    assert packages(modules, "ausm_train", "ausm", "ausm_ros", "torch", "rclpy") == []
