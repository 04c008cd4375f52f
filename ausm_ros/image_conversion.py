"""sensor_msgs images to and from numpy, checked field by field (no cv_bridge on the pip route).

Every rejection raises ImageError naming what was wrong, so the node can log it
and keep running.
"""

import sys

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image

MAX_SIDE = 16384  # larger "images" are corrupt headers, not cameras
MAX_PIXELS = 50_000_000  # 8K video is 33 Mpx; 16384x16384 rgb would need 800 MB to decode

# encoding -> (channels, dtype)
_LAYOUTS = {
    "rgb8": (3, np.uint8),
    "bgr8": (3, np.uint8),
    "rgba8": (4, np.uint8),
    "bgra8": (4, np.uint8),
    "mono8": (1, np.uint8),
    "mono16": (1, np.uint16),
    "8UC1": (1, np.uint8),
    "8UC3": (3, np.uint8),
}
SUPPORTED_ENCODINGS = tuple(_LAYOUTS)


class ImageError(ValueError):
    """An image message that cannot be turned into pixels. ``kind`` is one of a fixed set
    (ausm_ros.stream_stats.INVALID_KINDS), for counters; the message has the detail."""

    def __init__(self, message: str, kind: str = "bad image layout"):
        super().__init__(message)
        self.kind = kind


def _check_size(width, height):
    if width == 0 or height == 0:
        raise ImageError(f"empty image ({width}x{height})", "bad image size")
    if width > MAX_SIDE or height > MAX_SIDE:
        raise ImageError(f"absurd image size {width}x{height} (limit {MAX_SIDE} per side)", "bad image size")
    if width * height > MAX_PIXELS:
        raise ImageError(f"absurd image size {width}x{height} (limit {MAX_PIXELS / 1e6:.0f} Mpx)", "bad image size")


def _to_rgb8(pixels, encoding):
    if encoding in ("rgb8", "8UC3"):
        return pixels
    if encoding == "bgr8":
        return pixels[..., ::-1]
    if encoding == "rgba8":
        return pixels[..., :3]
    if encoding == "bgra8":
        return pixels[..., 2::-1]
    if encoding == "mono16":
        # Depth-like 16-bit data: stretch the frame's own range so the model sees contrast.
        lo, hi = int(pixels.min()), int(pixels.max())
        scaled = ((pixels.astype(np.float32) - lo) * (255.0 / max(hi - lo, 1))).astype(np.uint8)
        return np.repeat(scaled, 3, axis=2)
    return np.repeat(pixels, 3, axis=2)  # mono8


def check_image(msg: Image):
    """Header-only checks (no pixel is touched), cheap enough for the image callback."""
    if msg.encoding not in _LAYOUTS:
        raise ImageError(
            f"unsupported encoding '{msg.encoding}' (supported: {', '.join(SUPPORTED_ENCODINGS)})",
            "unsupported encoding",
        )
    channels, dtype = _LAYOUTS[msg.encoding]
    width, height = int(msg.width), int(msg.height)
    _check_size(width, height)
    row_bytes = width * channels * np.dtype(dtype).itemsize
    if msg.step < row_bytes:
        raise ImageError(f"step {msg.step} is smaller than width x pixel size = {row_bytes} for {msg.encoding}")
    if len(msg.data) < msg.step * height:
        raise ImageError(
            f"data holds {len(msg.data)} bytes, {msg.step * height} needed for {height} rows of step {msg.step}"
        )
    return channels, dtype, row_bytes


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, lossless, ...): they carry the size.
# C4 (huffman tables), C8 (reserved) and CC (arithmetic conditioning) are not frames.
_JPEG_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def compressed_size(data: bytes) -> tuple:
    """(width, height) declared in a PNG or JPEG header, read without decoding any pixel:
    a 20000x20000 JPEG of a few kB would otherwise be decoded into gigabytes first."""
    if data[:8] == _PNG_SIGNATURE:
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ImageError("corrupt or truncated png: no IHDR header", "bad compressed data")
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] != b"\xff\xd8":
        raise ImageError("corrupt or truncated data: neither a png nor a jpeg signature", "bad compressed data")
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ImageError(f"corrupt or truncated jpeg: no marker at byte {i}", "bad compressed data")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01,) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in _JPEG_SOF:
            if i + 9 > len(data):
                break
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
        if marker == 0xDA or length < 2:  # scan data before any frame header
            break
        i += 2 + length
    raise ImageError("corrupt or truncated jpeg: no frame header", "bad compressed data")


def check_compressed(msg: CompressedImage) -> tuple:
    """Format, presence of data, and the size the header declares (no pixel is decoded)."""
    fmt = msg.format.lower()
    if not any(kind in fmt for kind in ("jpeg", "jpg", "png")):
        raise ImageError(f"unsupported compressed format '{msg.format}' (jpeg or png)", "unsupported compressed format")
    if len(msg.data) == 0:
        raise ImageError("compressed image with no data", "bad compressed data")
    # The frame header follows the metadata segments (EXIF up to 64 kB each): 256 kB is ample.
    head = msg.data[:262144] if len(msg.data) > 262144 else msg.data
    width, height = compressed_size(bytes(head))
    _check_size(width, height)
    return width, height


def image_to_rgb(msg: Image) -> np.ndarray:
    """A contiguous HxWx3 uint8 RGB copy of a sensor_msgs/Image."""
    channels, dtype, row_bytes = check_image(msg)
    width, height = int(msg.width), int(msg.height)
    data = msg.data
    buffer = data if isinstance(data, (bytes, bytearray, memoryview)) else np.asarray(data, dtype=np.uint8)
    rows = np.frombuffer(buffer, dtype=np.uint8, count=msg.step * height).reshape(height, msg.step)[:, :row_bytes]
    pixels = rows.copy().view(dtype)
    if np.dtype(dtype).itemsize > 1 and bool(msg.is_bigendian) != (sys.byteorder == "big"):
        pixels = pixels.byteswap()
    pixels = pixels.reshape(height, width, channels)
    return np.ascontiguousarray(_to_rgb8(pixels, msg.encoding))


def compressed_to_rgb(msg: CompressedImage) -> np.ndarray:
    """Decode a jpeg/png sensor_msgs/CompressedImage into HxWx3 uint8 RGB."""
    check_compressed(msg)
    raw = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    decoded = cv2.imdecode(raw, cv2.IMREAD_COLOR)
    if decoded is None:
        raise ImageError(f"corrupt or truncated {msg.format} data ({len(raw)} bytes)", "bad compressed data")
    _check_size(decoded.shape[1], decoded.shape[0])
    return np.ascontiguousarray(decoded[..., ::-1])


def rgb_to_image(rgb: np.ndarray, header) -> Image:
    height, width = rgb.shape[:2]
    return Image(
        header=header,
        height=height,
        width=width,
        encoding="rgb8",
        is_bigendian=0,
        step=width * 3,
        data=np.ascontiguousarray(rgb, dtype=np.uint8).tobytes(),
    )


def mono8_to_image(mono: np.ndarray, header) -> Image:
    height, width = mono.shape
    return Image(
        header=header,
        height=height,
        width=width,
        encoding="mono8",
        is_bigendian=0,
        step=width,
        data=np.ascontiguousarray(mono, dtype=np.uint8).tobytes(),
    )


def mono16_to_image(labels: np.ndarray, header) -> Image:
    height, width = labels.shape
    data = np.ascontiguousarray(labels, dtype="<u2").tobytes()
    return Image(
        header=header, height=height, width=width, encoding="mono16", is_bigendian=0, step=width * 2, data=data
    )


def mask_from_image(msg: Image, expected_hw) -> np.ndarray:
    """A prompt's mono8 mask as bool [H, W]; its size must match the stream's images."""
    if msg.encoding not in ("mono8", "8UC1"):
        raise ImageError(f"prompt mask encoding must be mono8, got '{msg.encoding}'", "bad prompt")
    mono = image_to_rgb(msg)[..., 0]
    if mono.shape != tuple(expected_hw):
        raise ImageError(
            f"prompt mask is {mono.shape[1]}x{mono.shape[0]} but the stream's images are "
            f"{expected_hw[1]}x{expected_hw[0]}"
        )
    return mono > 0
