"""Augmentations drawn once per clip and applied identically to every frame.

A per-frame draw would make an object jump between frames for no reason the
model could learn, so flips, scale/crop and colour jitter share their random
parameters across the clip. The per-frame random affine used to turn a COCO
image into a pseudo-video lives here too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from .types import VideoClip


def _resize_masks(masks: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of bool [..., H, W] masks."""
    lead = masks.shape[:-2]
    flat = masks.reshape(-1, *masks.shape[-2:])
    out = np.zeros((flat.shape[0], height, width), dtype=bool)
    for i, m in enumerate(flat):
        if m.any():
            out[i] = cv2.resize(m.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
    return out.reshape(*lead, height, width)


def resize_clip(clip: VideoClip, height: int, width: int) -> VideoClip:
    """Resize every frame (bilinear) and mask (nearest) to height x width."""
    if (clip.height, clip.width) == (height, width):
        return clip
    interp = cv2.INTER_AREA if height < clip.height else cv2.INTER_LINEAR
    frames = np.stack([cv2.resize(f, (width, height), interpolation=interp) for f in clip.frames])
    return replace(clip, frames=frames, masks=_resize_masks(clip.masks, height, width))


def hflip_clip(clip: VideoClip) -> VideoClip:
    return replace(clip, frames=clip.frames[:, :, ::-1].copy(), masks=clip.masks[..., ::-1].copy())


def crop_or_pad_clip(clip: VideoClip, top: int, left: int, height: int, width: int) -> VideoClip:
    """Window [top, top+height) x [left, left+width) of the clip; parts of the
    window outside the frames are black and belong to no instance."""
    t, h, w = clip.num_frames, clip.height, clip.width
    frames = np.zeros((t, height, width, 3), dtype=np.uint8)
    masks = np.zeros((clip.num_instances, t, height, width), dtype=bool)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + height, h), min(left + width, w)
    if y1 > y0 and x1 > x0:
        frames[:, y0 - top : y1 - top, x0 - left : x1 - left] = clip.frames[:, y0:y1, x0:x1]
        masks[:, :, y0 - top : y1 - top, x0 - left : x1 - left] = clip.masks[:, :, y0:y1, x0:x1]
    return replace(clip, frames=frames, masks=masks)


@dataclass(frozen=True)
class ColorJitter:
    """Brightness, contrast and saturation factors drawn from [1-x, 1+x]; hue
    shift drawn from [-hue, hue] in fractions of the colour circle."""

    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.03

    def draw(self, rng: np.random.Generator) -> tuple[float, float, float, float]:
        return (
            rng.uniform(1 - self.brightness, 1 + self.brightness),
            rng.uniform(1 - self.contrast, 1 + self.contrast),
            rng.uniform(1 - self.saturation, 1 + self.saturation),
            rng.uniform(-self.hue, self.hue),
        )


def apply_color(frames: np.ndarray, brightness: float, contrast: float, saturation: float, hue: float) -> np.ndarray:
    """Apply fixed jitter factors to uint8 [T, H, W, 3] RGB frames."""
    x = frames.astype(np.float32) * brightness
    # Contrast pulls toward the clip's mean grey, not each frame's, so a static
    # scene keeps identical pixel statistics across frames.
    grey_mean = x.mean(dtype=np.float64)
    x = (x - grey_mean) * contrast + grey_mean
    grey = x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    x = (x - grey[..., None]) * saturation + grey[..., None]
    x = np.clip(x, 0, 255).astype(np.uint8)
    if hue != 0.0:
        shift = int(round(hue * 180))  # OpenCV's 8-bit hue runs over 0..179
        out = np.empty_like(x)
        for i, frame in enumerate(x):
            hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV)
            hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + shift) % 180).astype(np.uint8)
            out[i] = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        x = out
    return x


@dataclass(frozen=True)
class JpegArtifacts:
    """Re-encode a clip as JPEG with probability ``prob`` at one quality drawn from
    ``quality`` (inclusive) for the whole clip, as a camera's encoder would."""

    prob: float = 0.5
    quality: tuple[int, int] = (30, 95)

    def __call__(self, frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() >= self.prob:
            return frames
        params = [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(self.quality[0], self.quality[1] + 1))]
        out = np.empty_like(frames)
        for i, frame in enumerate(frames):
            ok, data = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), params)
            if not ok:
                raise RuntimeError("JPEG encoding failed")
            out[i] = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        return out


@dataclass(frozen=True)
class ClipAugment:
    """Flip, scale + crop to ``output_size`` and colour jitter, one draw per clip.

    output_size: (height, width) of the result, or None to keep each clip's size.
    scale_range: zoom relative to the smallest scale that covers output_size;
                 below 1 the clip is padded with black, above 1 it is cropped.
    """

    output_size: tuple[int, int] | None = None
    hflip_prob: float = 0.5
    scale_range: tuple[float, float] = (0.8, 1.25)
    color: ColorJitter | None = ColorJitter()
    jpeg: JpegArtifacts | None = None

    def __call__(self, clip: VideoClip, rng: np.random.Generator) -> VideoClip:
        if rng.random() < self.hflip_prob:
            clip = hflip_clip(clip)
        out_h, out_w = self.output_size or (clip.height, clip.width)
        cover = max(out_h / clip.height, out_w / clip.width)
        scale = cover * rng.uniform(*self.scale_range)
        new_h = max(1, int(round(clip.height * scale)))
        new_w = max(1, int(round(clip.width * scale)))
        clip = resize_clip(clip, new_h, new_w)
        # When the scaled clip is smaller than the output, the offset is
        # negative and the window pads; either way it is uniform over the slack.
        top = int(rng.integers(min(0, new_h - out_h), max(0, new_h - out_h) + 1))
        left = int(rng.integers(min(0, new_w - out_w), max(0, new_w - out_w) + 1))
        clip = crop_or_pad_clip(clip, top, left, out_h, out_w)
        if self.color is not None:
            clip = replace(clip, frames=apply_color(clip.frames, *self.color.draw(rng)))
        if self.jpeg is not None:
            clip = replace(clip, frames=self.jpeg(clip.frames, rng))
        return clip


@dataclass(frozen=True)
class RandomAffine:
    """Random affine for turning one image into a pseudo-video frame: rotation
    (degrees), isotropic scale, translation (fraction of the size) and shear
    (degrees), about the image centre."""

    degrees: float = 10.0
    scale: tuple[float, float] = (0.85, 1.15)
    translate: float = 0.08
    shear: float = 5.0

    def matrix(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        angle = np.deg2rad(rng.uniform(-self.degrees, self.degrees))
        s = rng.uniform(*self.scale)
        shear = np.deg2rad(rng.uniform(-self.shear, self.shear))
        tx = rng.uniform(-self.translate, self.translate) * width
        ty = rng.uniform(-self.translate, self.translate) * height
        cx, cy = width / 2.0, height / 2.0
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        linear = s * rot @ np.array([[1.0, np.tan(shear)], [0.0, 1.0]])
        offset = np.array([cx + tx, cy + ty]) - linear @ np.array([cx, cy])
        return np.hstack([linear, offset[:, None]])

    def warp(self, image: np.ndarray, masks: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Warp an [H, W, 3] image and bool [N, H, W] masks with a 2x3 matrix."""
        h, w = image.shape[:2]
        out = cv2.warpAffine(
            image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0)
        )
        warped = np.zeros_like(masks)
        for i, m in enumerate(masks):
            warped[i] = (
                cv2.warpAffine(
                    m.astype(np.uint8),
                    matrix,
                    (w, h),
                    flags=cv2.INTER_NEAREST,
                    borderMode=cv2.BORDER_CONSTANT,
                    borderValue=0,
                )
                > 0
            )
        return out, warped
