"""Reading and writing the files the official formats are made of: RGB frames,
palette ("P" mode) PNG label maps, and JSON. Every read failure becomes a
CorruptSampleError so one bad file costs one sample, not the run. The ``*_atomic``
writers (and ``write_palette_png``) write to a temporary file and rename it, so a
killed run leaves no half-written prediction."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import CorruptSampleError


def voc_palette(num_colors: int = 256) -> np.ndarray:
    """uint8 [num_colors, 3]: the PASCAL VOC colour map that DAVIS and YouTube-VOS
    annotation PNGs carry (index 1 is (128, 0, 0), 2 is (0, 128, 0), ...).

    Colour i spreads the bits of i over the high bits of R, G and B, three bits
    per round, so that neighbouring ids get clearly different colours.
    """
    palette = np.zeros((num_colors, 3), dtype=np.uint8)
    for index in range(num_colors):
        rgb = [0, 0, 0]
        bits = index
        for shift in range(7, -1, -1):
            for channel in range(3):
                rgb[channel] |= ((bits >> channel) & 1) << shift
            bits >>= 3
        palette[index] = rgb
    return palette


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """uint8 [H, W, 3] RGB image; CorruptSampleError if it cannot be decoded."""
    try:
        with Image.open(path) as image:
            return np.array(image.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as error:
        raise CorruptSampleError(f"unreadable image {path}: {error}") from error


def read_label_png(path: str | os.PathLike) -> np.ndarray:
    """[H, W] integer label map from an indexed ("P") or grey ("L"/"I") PNG.

    For palette PNGs the pixel values are the palette indices, i.e. the object
    ids; the colours are ignored, as the official tools do.
    """
    try:
        with Image.open(path) as image:
            if image.mode in ("P", "L", "I", "I;16", "1"):
                labels = np.array(image)
            else:
                # An RGB annotation has no ids to read; refusing beats guessing.
                raise CorruptSampleError(f"annotation {path} has mode {image.mode}, expected an indexed or grey PNG")
    except (OSError, ValueError, SyntaxError) as error:
        raise CorruptSampleError(f"unreadable annotation {path}: {error}") from error
    if labels.dtype == bool:
        labels = labels.astype(np.uint8)
    return labels


def write_label_png(path: str | os.PathLike, labels: np.ndarray) -> None:
    """Write an [H, W] label map (ids 0..255) as a palette PNG with the VOC colours."""
    labels = np.asarray(labels)
    if labels.min(initial=0) < 0 or labels.max(initial=0) > 255:
        raise ValueError("palette PNGs hold ids 0..255 only")
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    image.putpalette(voc_palette().reshape(-1).tolist())
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def write_palette_png(path: str | os.PathLike, labels: np.ndarray) -> None:
    """An [H, W] label image (ids 0..255) as a palette PNG with the DAVIS colours,
    written to a temporary file and renamed, so a killed run leaves no half file."""
    labels = np.asarray(labels)
    if labels.min(initial=0) < 0 or labels.max(initial=0) > 255:
        raise ValueError(f"{path}: palette PNGs hold ids 0..255, got {labels.min()}..{labels.max()}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    image.putpalette(voc_palette().reshape(-1).tolist())
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".png")
    try:
        with os.fdopen(fd, "wb") as handle:
            image.save(handle, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jpeg(path: str | os.PathLike, rgb: np.ndarray, quality: int = 95) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(rgb, dtype=np.uint8), mode="RGB").save(path, quality=quality)


def read_json(path: str | os.PathLike) -> object:
    """Parsed JSON; CorruptSampleError if the file is missing or not JSON (used for
    per-video files such as SA-V's, where one bad file is one bad sample)."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as error:
        raise CorruptSampleError(f"unreadable JSON {path}: {error}") from error


def write_json(path: str | os.PathLike, data: object) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle)


def write_json_atomic(path: str | os.PathLike, data: object) -> Path:
    """JSON written to a temporary file beside ``path`` and renamed over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def frame_stem(path: str | os.PathLike) -> str:
    return Path(path).stem


def list_frames(directory: str | os.PathLike, suffixes=(".jpg", ".jpeg", ".png")) -> list[Path]:
    """Frame files of a video folder in name order (the official tools sort names)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix.lower() in suffixes)
