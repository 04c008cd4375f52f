"""Start the AUSM perception node: `ros2 launch ausm_ros perception.launch.py image_topics:="['/cam/image_raw']"`."""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue


def generate_launch_description():
    default_config = os.path.join(get_package_share_directory("ausm_ros"), "config", "perception.yaml")
    arguments = [
        DeclareLaunchArgument("config", default_value=default_config, description="parameter file"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the node and its topics"),
        DeclareLaunchArgument("image_topics", default_value="['/camera/image_raw']",
                              description="sensor_msgs/Image topics, one stream each"),
        DeclareLaunchArgument("compressed_image_topics", default_value="['']",
                              description="sensor_msgs/CompressedImage topics, one stream each"),
        DeclareLaunchArgument("checkpoint", default_value="", description="model checkpoint; empty = bundled demo"),
        DeclareLaunchArgument("backend", default_value="auto", description="auto | torch | onnxruntime | tensorrt"),
        DeclareLaunchArgument("device", default_value="auto", description="auto | cpu | cuda | cuda:N"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="follow /clock (bag replay)"),
    ]
    node = Node(
        package="ausm_ros",
        executable="perception_node",
        name="ausm_perception",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[
            LaunchConfiguration("config"),
            {
                # Untyped values are parsed as YAML: lists and booleans arrive typed.
                "image_topics": ParameterValue(LaunchConfiguration("image_topics")),
                "compressed_image_topics": ParameterValue(LaunchConfiguration("compressed_image_topics")),
                "use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time")),
                # Strings stay strings even when empty (YAML would make "" a null).
                "checkpoint": ParameterValue(LaunchConfiguration("checkpoint"), value_type=str),
                "backend": ParameterValue(LaunchConfiguration("backend"), value_type=str),
                "device": ParameterValue(LaunchConfiguration("device"), value_type=str),
            },
        ],
    )
    return LaunchDescription(arguments + [node])
