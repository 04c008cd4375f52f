"""ausm_train: the offline training package for AUSM (arXiv 2508.19242).

Runs without ROS. Subpackages:

- ``ausm_train.data``: one clip type (:class:`ausm_train.data.VideoClip`) and loaders
  for the official formats (DAVIS 2017, YouTube-VOS/MOSE, YouTube-VIS/OVIS, COCO
  pseudo-videos, SA-V), clip sampling, clip-shared augmentation and multi-dataset mixing.
- ``ausm_train.synthetic``: a seeded synthetic video generator that writes the DAVIS and
  YouTube-VIS formats (``python -m ausm_train.synthetic --help``).
- ``ausm_train.evaluation``: the model on folders in the official DAVIS and YouTube-VIS
  layouts, scored by ``ausm_eval.metrics`` (the metrics and the format readers and writers
  live in ``ausm_eval``, which the ROS side imports too).

Nothing is imported here eagerly, so ``import ausm_train`` stays cheap (no torch).
"""

__version__ = "0.1.0"
