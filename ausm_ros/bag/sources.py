"""Where the sequences of an evaluation bag come from: a training-package dataset, or a video file.

Datasets are read with the training package's own loaders (ausm_train.data,
ausm_train.synthetic), so a bag holds exactly the frames and masks training and
validation see. A plain video file has frames only.
"""

import logging
from pathlib import Path

import cv2

from ausm_ros.bag.errors import BagError

log = logging.getLogger(__name__)

DATASETS = ("synthetic", "davis", "ytvos", "mose", "ytvis", "ovis", "sav")


def open_source(
    kind,
    root=None,
    split="train",
    annotations=None,
    images=None,
    resolution="480p",
    with_categories=False,
    videos=3,
    frames=24,
    size=(128, 128),
    seed=1000,
    min_objects=1,
    max_objects=4,
):
    """A VideoSource of the training package. Errors in the dataset itself (a wrong path,
    a broken index file) stop here with the loader's message."""
    from ausm_eval.errors import DatasetFormatError

    try:
        from ausm_train.data import DavisSource, MOSESource, OVISSource, SAVSource, YouTubeVISSource, YouTubeVOSSource
        from ausm_train.synthetic import SyntheticConfig, SyntheticVideoSource
    except ModuleNotFoundError as error:
        if not (error.name or "").startswith("ausm_train"):
            raise
        # A ROS install carries ausm, ausm_eval and ausm_ros, not the training package.
        raise BagError(
            f"writing the {kind} dataset to a bag needs the training package's loaders (ausm_train), "
            "which this install does not have: run it from the source checkout (`pip install -e .` there)"
        ) from error

    try:
        if kind == "synthetic":
            width, height = size
            config = SyntheticConfig(
                height=height, width=width, num_frames=frames, min_objects=min_objects, max_objects=max_objects
            )
            return SyntheticVideoSource(config, num_videos=videos, seed=seed)
        if kind == "davis":
            return DavisSource(root, split=split, resolution=resolution)
        if kind in ("ytvos", "mose"):
            factory = YouTubeVOSSource if kind == "ytvos" else MOSESource
            return factory(root, split=split, with_categories=with_categories)
        if kind in ("ytvis", "ovis"):
            factory = YouTubeVISSource if kind == "ytvis" else OVISSource
            return factory(annotations, images)
        if kind == "sav":
            return SAVSource(root)
    except (DatasetFormatError, ValueError, OSError) as error:
        raise BagError(f"cannot read the {kind} dataset: {error}") from error
    raise BagError(f"unknown dataset kind '{kind}' (choose from {', '.join(DATASETS)})")


def select_videos(source, names=None, limit=None):
    """Indices of the videos to write: the named ones (in the given order), else the first `limit`."""
    if names:
        known = {source.video_name(i): i for i in range(len(source))}
        missing = [n for n in names if n not in known]
        if missing:
            raise BagError(
                f"videos {missing} are not in the {source.name} dataset "
                f"(it has {len(known)}, e.g. {', '.join(list(known)[:5])})"
            )
        return [known[n] for n in names]
    count = len(source) if limit is None else min(limit, len(source))
    return list(range(count))


def load_clip(source, index, max_frames=None):
    """One video as a VideoClip, or None (logged) when the loader finds it corrupt."""
    from ausm_eval.errors import CorruptSampleError

    total = source.num_frames(index)
    frames = None if not max_frames or max_frames >= total else list(range(max_frames))
    try:
        return source.load(index, frames)
    except CorruptSampleError as error:
        log.warning("skipping video %s of %s: %s", source.video_name(index), source.name, error)
        return None


def video_frames(path, max_frames=None, size=None):
    """RGB frames of a video file (OpenCV), optionally resized to size=(W, H); and its frame rate."""
    path = Path(path)
    if not path.is_file():
        raise BagError(f"{path}: no such video file")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise BagError(f"{path}: OpenCV cannot open this video (unknown container or codec)")
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0

    def frames():
        count = 0
        try:
            while max_frames is None or count < max_frames:
                ok, bgr = capture.read()
                if not ok:
                    break
                if size is not None:
                    bgr = cv2.resize(bgr, tuple(size), interpolation=cv2.INTER_AREA)
                count += 1
                yield bgr[..., ::-1].copy()
        finally:
            capture.release()
        if count == 0:
            raise BagError(f"{path}: no frame could be decoded")

    return frames(), fps
