"""ausm_eval: the evaluation package both sides of AUSM use, light enough for a robot.

The ROS side (``ausm_ros.bag``: scoring replays of the perception node) and the training
side (``ausm_train``: validation, ``python -m ausm_train eval|score``) import the same
metrics and the same readers and writers of the official formats from here, so neither
needs the other. No torch, no ROS; numpy, scipy, pycocotools, Pillow and tqdm.

- ``ausm_eval.metrics``: DAVIS 2017 J&F (with the static and empty baselines), the
  YouTube-VOS overall score, YouTube-VIS / OVIS video mask AP, J&F of prediction folders.
- ``ausm_eval.io``: the files the official formats are made of (RGB frames, palette PNG
  label maps with the VOC colours, JSON), read and written.
- ``ausm_eval.segmentation``: COCO-style segmentations (RLE, polygons) to and from masks.
- ``ausm_eval.errors``: ``CorruptSampleError`` (one unreadable sample) and
  ``DatasetFormatError`` (an unusable dataset), raised by the readers.

Nothing is imported here eagerly, so ``import ausm_eval.io`` does not load the metrics.
"""

__version__ = "0.1.0"
