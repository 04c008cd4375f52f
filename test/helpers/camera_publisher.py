"""A stand-in camera driver in its own process: rgb8 frames over sensor-data QoS (best effort).

    python test/helpers/camera_publisher.py TOPIC WIDTH HEIGHT FRAMES RATE_HZ

Its own process so its DDS participant has its own transport settings (a camera driver
started with or without FASTDDS_DEFAULT_PROFILES_FILE). Waits for a subscriber, sends,
prints "sent N".
"""

import sys
import time

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image


def main():
    topic, width, height, frames, rate = (
        sys.argv[1],
        int(sys.argv[2]),
        int(sys.argv[3]),
        int(sys.argv[4]),
        float(sys.argv[5]),
    )
    rclpy.init()
    node = Node("test_camera")
    pub = node.create_publisher(Image, topic, qos_profile_sensor_data)
    deadline = time.monotonic() + 120
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # let discovery settle both ways
    rng = np.random.default_rng(0)
    data = rng.integers(0, 255, (height, width, 3), dtype=np.uint8).tobytes()
    start = time.monotonic()
    for i in range(frames):
        stamp = 10**9 + int(i * 1e9 / rate)
        msg = Image(height=height, width=width, encoding="rgb8", step=width * 3, data=data)
        msg.header.stamp = Time(sec=stamp // 10**9, nanosec=stamp % 10**9)
        msg.header.frame_id = "cam"
        pub.publish(msg)
        time.sleep(max(0.0, start + (i + 1) / rate - time.monotonic()))
    time.sleep(0.5)
    print(f"sent {frames}", flush=True)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    main()
