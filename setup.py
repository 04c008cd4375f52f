"""pip install for the no-ROS route; in a ROS workspace CMakeLists.txt installs the same packages."""

from setuptools import find_packages, setup

setup(
    name="ausm_ros",
    version="0.1.0",
    description="AUSM video segmentation as a ROS 2 perception node, with its evaluation and training packages",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(
        include=("ausm", "ausm.*", "ausm_eval", "ausm_eval.*", "ausm_train", "ausm_train.*", "ausm_ros", "ausm_ros.*")
    ),
    package_data={
        "ausm": ["configs/*.yaml", "checkpoints/*", "export/plugin/*", "export/plugin/*/*"],
        "ausm_train": ["configs/*.yaml"],
    },
    entry_points={
        "console_scripts": [
            "ausm-perception = ausm_ros.perception_main:main",
            "ausm-bag-write = ausm_ros.bag.cli:write_entry",
            "ausm-bag-replay = ausm_ros.bag.cli:replay_entry",
            "ausm-bag-score = ausm_ros.bag.cli:score_entry",
            "ausm-bag-overlay = ausm_ros.bag.cli:overlay_entry",
            "ausm-bag-demo = ausm_ros.bag.demo:entry",
        ],
    },
)
