"""What each package may pull in: the robot side and the evaluation package never load the
training package (a ROS install does not carry it), and ausm_eval stays free of torch and ROS."""

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

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


def _requirement_names(requirements):
    return {re.split(r"[\s;<>=!~\[]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements or ()}


def test_the_model_core_needs_nothing_beyond_the_declared_dependencies():
    """`pip install .` (no extras) must be enough for the model and the streaming session:
    every third-party distribution they import is declared in pyproject.toml or required by
    one that is."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    declared = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["dependencies"]
    allowed, todo = set(), list(_requirement_names(declared))
    while todo:  # the declared distributions and everything they require
        name = todo.pop()
        if name in allowed:
            continue
        allowed.add(name)
        try:
            todo.extend(_requirement_names(r for r in metadata.requires(name) or () if "extra ==" not in r))
        except metadata.PackageNotFoundError:
            pass
    modules = loaded_after(
        "import ausm, ausm.model, ausm.session, ausm.checkpoint, ausm.letterbox, ausm.prompts, ausm.runtimes"
    )
    at_startup = set(loaded_after("pass"))  # site hooks of the environment, not ours
    top = {m.split(".")[0] for m in set(modules) - at_startup} - set(sys.stdlib_module_names) - {"ausm"}
    owners = metadata.packages_distributions()
    needed = {d.lower().replace("_", "-") for m in top for d in owners.get(m, ())}
    assert needed, "found no third-party distribution at all: the check itself is broken"
    assert "torch" in needed
    assert needed <= allowed, f"imported by the model core but not declared: {sorted(needed - allowed)}"
