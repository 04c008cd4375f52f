"""Rosbag replay and evaluation of the perception node (rosbag2 via the pure-Python `rosbags`).

  ausm-bag-write    dataset or video file -> evaluation bag (frames + ground truth)
  ausm-bag-replay   bag -> node over DDS -> output bags -> scores, JSON report
  ausm-bag-score    output bags -> scores, offline
  ausm-bag-overlay  output bag -> mp4 (+ PNGs) with masks and track ids
  python -m ausm_ros.bag.demo   the bundled bag through the bundled checkpoint

The modules:

  layout     what goes where in an evaluation bag and a replay's output bag (topics, types, records)
  messages   the type store of our interfaces; building and decoding the messages in bags
  reading    any bag with clear errors (BagFile), an evaluation bag (EvalBag), an output bag (read_record)
  writing    rosbag2 bags (BagWriter, MCAP chunk CRCs), evaluation bags from datasets or videos
  replay     playing an evaluation bag into the node (ReplayPass; the node as a child process)
  dds        the replay's own ROS node (rclpy), imported only when a replay starts
  scoring    scores of a replay (J&F, video AP, latency, drops, resets), the report and its tables
  overlay    an mp4 of a replay: frames with the node's masks and ids
  cli        the command-line tools;   demo: the bundled demo

Every problem with a bag or its contents is a BagError (below) that names the file and
what is wrong; the tools print it on one line and exit with code 2.
"""


class BagError(RuntimeError):
    """A bag that cannot be used: missing, truncated, corrupt, or without a needed topic.

    The message always names the file (or bag directory) and the problem, so a user
    can act on it without a traceback; the command-line tools print it and exit 2.
    """
