"""What several test files share (tests import ``helpers.<module>``, never each other):

- ``helpers.node``: frames, prompts and the StreamSession comparison of the node tests;
- ``helpers.train``: a model and a training config small enough for one CPU core;
- ``helpers.tensorrt``: a stand-in TensorRT execution context for the runner tests;
- ``helpers/ros_echo_peer.py``, ``helpers/camera_publisher.py``: second ROS processes the
  interface and transport tests start.

Tools the benchmarks use too live in ``bench/`` (``bench.node_client``,
``bench.runtime_parity``, ``bench.kernel_harness``).
"""
