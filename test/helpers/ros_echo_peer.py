"""A second ROS process for the interface round-trip test.

Echoes every message it receives on rt_in/<Type> to rt_out/<Type> and serves the
three services with replies derived from the request, so the test can check that
every field crossed DDS twice unchanged.
"""

import sys

import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from vision_msgs import msg as vision_msg

from ausm_ros import msg as ausm_msg
from ausm_ros import srv as ausm_srv

MESSAGE_TYPES = {
    "PromptPoint": ausm_msg.PromptPoint,
    "ObjectPrompt": ausm_msg.ObjectPrompt,
    "PromptAck": ausm_msg.PromptAck,
    "InstanceMask": ausm_msg.InstanceMask,
    "InstanceSegmentation": ausm_msg.InstanceSegmentation,
    "Detection2DArray": vision_msg.Detection2DArray,
    "LabelInfo": vision_msg.LabelInfo,
}
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def add_object(request, response):
    response.success = True
    response.object_id = request.prompt.object_id + 1
    response.message = f"{request.prompt.class_id}:{len(request.prompt.points)}:{request.prompt.prompt_id}"
    return response


def remove_object(request, response):
    response.success = request.object_id % 2 == 0
    response.message = f"{request.stream}/{request.object_id}"
    return response


def reset_stream(request, response):
    response.success = True
    response.message = f"reset {request.stream}"
    return response


def main():
    rclpy.init()
    node = Node("ausm_echo_peer")
    keep = []
    for name, msg_type in MESSAGE_TYPES.items():
        pub = node.create_publisher(msg_type, f"rt_out/{name}", RELIABLE)
        keep.append(node.create_subscription(msg_type, f"rt_in/{name}", pub.publish, RELIABLE))
    keep.append(node.create_service(ausm_srv.AddObject, "rt/add_object", add_object))
    keep.append(node.create_service(ausm_srv.RemoveObject, "rt/remove_object", remove_object))
    keep.append(node.create_service(ausm_srv.ResetStream, "rt/reset_stream", reset_stream))
    print("ready", flush=True)
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
