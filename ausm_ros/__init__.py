"""AUSM instance segmentation and tracking as a ROS 2 node."""

# Without a ROS install the generated interfaces (ausm_ros.msg, ausm_ros.srv) are
# built into .ros_prefix while these sources stay in the checkout; extend_path
# joins both folders into one package. In a colcon install they share one folder.
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
