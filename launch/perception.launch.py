"""Start the AUSM perception node: `ros2 launch ausm_ros perception.launch.py image_topics:=/cam/image_raw`.

Every node parameter is a launch argument. Arguments you give override the config
file; those you do not give leave it alone. The logic lives in ausm_ros.node_config
(tested without the launch packages); this file only wires it into launch.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch_ros.actions import Node

from ausm_ros.node_config import LAUNCH_ONLY, NODE_NAME, PARAMETERS, UNSET, fastdds_profile_env, launch_parameters
from launch import LaunchDescription


def _share(*parts):
    return os.path.join(get_package_share_directory("ausm_ros"), *parts)


def _node(context):
    arguments = dict(context.launch_configurations)
    namespace, parameters = launch_parameters(arguments, default_config=_share("config", "perception.yaml"))
    env = fastdds_profile_env(arguments.get("fastdds_profile", ""), _share("config", "fastdds_large_data.xml"))
    return [
        Node(
            package="ausm_ros",
            executable="perception_node",
            name=NODE_NAME,
            namespace=namespace,
            output="screen",
            parameters=[parameters],
            additional_env=env,
        )
    ]


def generate_launch_description():
    arguments = [
        DeclareLaunchArgument(
            "config", default_value=_share("config", "perception.yaml"), description=LAUNCH_ONLY["config"]
        ),
        DeclareLaunchArgument("namespace", default_value="", description=LAUNCH_ONLY["namespace"]),
        DeclareLaunchArgument("fastdds_profile", default_value="", description=LAUNCH_ONLY["fastdds_profile"]),
        DeclareLaunchArgument("use_sim_time", default_value=UNSET, description=LAUNCH_ONLY["use_sim_time"]),
    ]
    arguments += [
        DeclareLaunchArgument(
            name, default_value=UNSET, description=f"node parameter (default {default!r}); see config/perception.yaml"
        )
        for name, default in PARAMETERS.items()
    ]
    return LaunchDescription(arguments + [OpaqueFunction(function=_node)])
