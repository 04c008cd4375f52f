"""ausm_train: the offline training package for AUSM (arXiv 2508.19242).

Runs without ROS. Subpackages:

- ``ausm_train.data``: one clip type (:class:`ausm_train.data.VideoClip`) and loaders
  for the official formats (DAVIS 2017, YouTube-VOS/MOSE, YouTube-VIS/OVIS, COCO
  pseudo-videos, SA-V), clip sampling, clip-shared augmentation and multi-dataset mixing.
- ``ausm_train.synthetic``: a seeded synthetic video generator that writes the DAVIS and
  YouTube-VIS formats (``python -m ausm_train.synthetic --help``).
- ``ausm_train.metrics``: DAVIS J&F, YouTube-VOS overall score and YouTube-VIS video AP.

Nothing is imported here eagerly, so ``import ausm_train`` stays cheap (no torch).
"""

__version__ = "0.1.0"
