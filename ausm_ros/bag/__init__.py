"""Rosbag replay and evaluation of the perception node (rosbag2 via the pure-Python `rosbags`).

  ausm-bag-write    dataset or video file -> evaluation bag (frames + ground truth)  cli_write
  ausm-bag-replay   bag -> node over DDS -> output bags -> scores, JSON report      cli_replay
  ausm-bag-score    output bags -> scores, offline                                  cli_score
  ausm-bag-overlay  output bag -> mp4 (+ PNGs) with masks and track ids             cli_overlay
  python -m ausm_ros.bag.demo   the bundled bag through the bundled checkpoint      demo

Bag layout and conventions: ausm_ros.bag.layout. The modules: bag_reader / bag_writer
(rosbags with clear errors), typestore (our .msg files registered), bag_messages (building
and decoding messages), dataset_to_bag + sources (writing), eval_bag (reading an evaluation
bag), replay + dds_link + node_process (playing it into the node), replay_record + scoring
+ report (scoring), overlay_video, evaluation (replay then score).
"""
