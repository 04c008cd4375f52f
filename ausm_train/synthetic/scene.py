"""Synthetic videos: textured shapes of several classes that move, turn, grow
or shrink, occlude each other by depth order, enter and leave the frame, seen
by a moving camera with sensor noise. Every video is a pure function of
(config, seed, index), so a data set can be regenerated bit for bit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from ..data.source import GeneratedVideoSource
from ..data.types import VideoClip
from .appearance import Texture, background
from .shapes import SHAPE_CLASSES, shape_mask

# Every shape lies within this radius (in its unit frame): the square's corners
# reach 0.85 * sqrt(2).
_SHAPE_EXTENT = 1.21


@dataclass(frozen=True)
class SyntheticConfig:
    """Sizes and speeds are fractions of the shorter image side (per frame for
    speeds), so one config reads the same at any resolution."""

    height: int = 128
    width: int = 128
    num_frames: int = 16
    min_objects: int = 2
    max_objects: int = 5
    classes: tuple[str, ...] = SHAPE_CLASSES
    radius: tuple[float, float] = (0.08, 0.2)
    max_speed: float = 0.03
    enter_prob: float = 0.3  # chance an object starts outside and enters
    exit_prob: float = 0.2  # chance an object heads out and leaves
    max_scale_rate: float = 0.03  # |d log(radius) / frame|
    max_spin: float = 0.08  # radians per frame
    camera_speed: float = 0.012
    noise_sigma: tuple[float, float] = (2.0, 8.0)
    flicker: float = 0.03  # per-frame brightness change, fraction
    name: str = "synthetic"

    def __post_init__(self):
        if not 0 <= self.enter_prob + self.exit_prob <= 1:
            raise ValueError("enter_prob + exit_prob must lie in [0, 1]")
        if not 1 <= self.min_objects <= self.max_objects:
            raise ValueError("need 1 <= min_objects <= max_objects")
        if self.height < 8 or self.width < 8 or self.num_frames < 1:
            raise ValueError("frames must be at least 8x8 and videos at least 1 frame long")
        unknown = set(self.classes) - set(SHAPE_CLASSES)
        if unknown:
            raise ValueError(f"unknown classes {sorted(unknown)}")


@dataclass(frozen=True)
class _Object:
    class_index: int
    texture: Texture
    position: np.ndarray  # world position at t = 0 (x, y)
    velocity: np.ndarray
    accel: np.ndarray
    radius: float
    scale_rate: float
    angle: float
    spin: float

    def at(self, t: int, max_radius: float) -> tuple[np.ndarray, float, float]:
        pos = self.position + self.velocity * t + 0.5 * self.accel * t * t
        radius = float(np.clip(self.radius * np.exp(self.scale_rate * t), 2.0, max_radius))
        return pos, radius, self.angle + self.spin * t


def edge_motion(
    cfg: SyntheticConfig, rng: np.random.Generator, gap: float, speed: float
) -> tuple[np.ndarray, np.ndarray]:
    """A point ``gap`` pixels beyond a random edge (negative: inside) and a
    velocity of the given speed pointing into the frame, roughly across it."""
    edge = int(rng.integers(4))
    along_x = rng.uniform(0.2, 0.8) * cfg.width
    along_y = rng.uniform(0.2, 0.8) * cfg.height
    position, inward = {
        0: ((along_x, -gap), (0.0, 1.0)),
        1: ((along_x, cfg.height + gap), (0.0, -1.0)),
        2: ((-gap, along_y), (1.0, 0.0)),
        3: ((cfg.width + gap, along_y), (-1.0, 0.0)),
    }[edge]
    direction = np.array(inward) + rng.uniform(-0.5, 0.5) * np.array(inward[::-1])
    return np.array(position, dtype=np.float64), speed * direction / np.linalg.norm(direction)


def _draw_object(cfg: SyntheticConfig, rng: np.random.Generator, side: float) -> _Object:
    radius = rng.uniform(*cfg.radius) * side
    speed = rng.uniform(0.2, 1.0) * cfg.max_speed * side
    mode = rng.random()
    if mode < cfg.enter_prob:
        # Start beyond an edge, heading in, possibly some frames away: the
        # object enters mid-video.
        delay = rng.uniform(0, cfg.num_frames / 2)
        position, velocity = edge_motion(cfg, rng, radius * _SHAPE_EXTENT + speed * delay, speed)
    elif mode < cfg.enter_prob + cfg.exit_prob:
        # Run an entry backwards: the object is wholly gone by frame ``gone``.
        speed = max(speed, 0.6 * cfg.max_speed * side)
        gone = rng.uniform(0.4, 0.9) * cfg.num_frames
        position, velocity = edge_motion(cfg, rng, radius * _SHAPE_EXTENT - speed * gone, speed)
        velocity = -velocity
    else:
        position = np.array([rng.uniform(0.1, 0.9) * cfg.width, rng.uniform(0.1, 0.9) * cfg.height])
        heading = rng.uniform(0, 2 * np.pi)
        velocity = speed * np.array([np.cos(heading), np.sin(heading)])
    return _Object(
        class_index=int(rng.integers(len(cfg.classes))),
        texture=Texture.draw(rng),
        position=position,
        velocity=velocity,
        accel=rng.normal(0.0, 0.05 * cfg.max_speed * side / max(cfg.num_frames, 1), size=2),
        radius=radius,
        scale_rate=rng.uniform(-cfg.max_scale_rate, cfg.max_scale_rate),
        angle=rng.uniform(0, 2 * np.pi),
        spin=rng.uniform(-cfg.max_spin, cfg.max_spin),
    )


def _paint(
    image: np.ndarray,
    labels: np.ndarray,
    amodal: np.ndarray,
    label: int,
    obj: _Object,
    center: np.ndarray,
    radius: float,
    angle: float,
    classes: Sequence[str],
) -> None:
    """Draw one object over what is there (it is nearer than everything drawn
    so far); ``amodal`` gets its whole in-frame shape, occluded or not."""
    h, w = labels.shape
    reach = radius * _SHAPE_EXTENT
    x0, x1 = int(np.floor(center[0] - reach)), int(np.ceil(center[0] + reach)) + 1
    y0, y1 = int(np.floor(center[1] - reach)), int(np.ceil(center[1] + reach)) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x0 >= x1 or y0 >= y1:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    dx, dy = xs - center[0], ys - center[1]
    c, s = np.cos(angle), np.sin(angle)
    u = (c * dx + s * dy) / radius
    v = (-s * dx + c * dy) / radius
    inside = shape_mask(classes[obj.class_index], u, v)
    if not inside.any():
        return
    colors = obj.texture.render(u, v)
    image[y0:y1, x0:x1][inside] = colors[inside]
    labels[y0:y1, x0:x1][inside] = label
    amodal[y0:y1, x0:x1] |= inside


def generate_video(cfg: SyntheticConfig, seed: int, index: int) -> VideoClip:
    """Video ``index`` of the data set with this seed.

    Instances are numbered 1..N in order of depth (1 is farthest); instances
    that never become visible are left out. category_ids index ``cfg.classes``.
    """
    return render_scene(cfg, seed, index)[0]


def render_scene(cfg: SyntheticConfig, seed: int, index: int) -> tuple[VideoClip, np.ndarray]:
    """The video of ``generate_video`` and the amodal masks bool [N, T, H, W] of
    its instances: each shape's full extent inside the frame, including the
    parts nearer objects hide (the clip's masks are the visible parts)."""
    rng = np.random.default_rng([int(seed), int(index)])
    h, w, t_len = cfg.height, cfg.width, cfg.num_frames
    side = float(min(h, w))
    objects = [_draw_object(cfg, rng, side) for _ in range(int(rng.integers(cfg.min_objects, cfg.max_objects + 1)))]

    # Camera: a drift plus a slow sway; the background is big enough for it.
    drift = rng.normal(0.0, 1.0, size=2)
    drift *= cfg.camera_speed * side * rng.uniform(0.0, 1.0) / max(np.linalg.norm(drift), 1e-9)
    sway_amp = rng.uniform(0.0, 0.02) * side
    sway_phase = rng.uniform(0, 2 * np.pi)
    times = np.arange(t_len, dtype=np.float64)
    camera = drift[None] * times[:, None] + sway_amp * np.stack(
        [np.sin(0.3 * times + sway_phase), np.cos(0.23 * times + sway_phase)], axis=1
    )
    margin = int(np.ceil(np.abs(camera).max(initial=0.0))) + 2
    world = background(h + 2 * margin, w + 2 * margin, rng)

    noise_sigma = rng.uniform(*cfg.noise_sigma)
    max_radius = cfg.radius[1] * side * 1.6
    frames = np.zeros((t_len, h, w, 3), dtype=np.uint8)
    labels = np.zeros((t_len, h, w), dtype=np.int32)
    amodal = np.zeros((len(objects), t_len, h, w), dtype=bool)
    for t in range(t_len):
        cam = camera[t]
        view_center = (margin + cam[0] + (w - 1) / 2.0, margin + cam[1] + (h - 1) / 2.0)
        image = cv2.getRectSubPix(world, (w, h), view_center).astype(np.float32)
        for label, obj in enumerate(objects, start=1):
            pos, radius, angle = obj.at(t, max_radius)
            _paint(image, labels[t], amodal[label - 1, t], label, obj, pos - cam, radius, angle, cfg.classes)
        image *= 1.0 + rng.uniform(-cfg.flicker, cfg.flicker)
        image += rng.normal(0.0, noise_sigma, size=image.shape).astype(np.float32)
        frames[t] = np.clip(np.rint(image), 0, 255).astype(np.uint8)

    masks = (
        np.stack([labels == k for k in range(1, len(objects) + 1)])
        if objects
        else np.zeros((0, t_len, h, w), dtype=bool)
    )
    visible = masks.reshape(len(objects), -1).any(axis=1)
    masks = masks[visible]
    classes = np.array([o.class_index for o, v in zip(objects, visible) if v], dtype=np.int64)
    clip = VideoClip(
        frames=frames,
        masks=masks,
        instance_ids=np.arange(1, len(classes) + 1, dtype=np.int64),
        category_ids=classes,
        dataset=cfg.name,
        video=f"s{seed}_{index:05d}",
        frame_names=[f"{t:05d}" for t in range(t_len)],
    )
    return clip, amodal[visible]


class SyntheticVideoSource(GeneratedVideoSource):
    """Synthetic videos generated on demand; same interface as the real-data loaders."""

    render = staticmethod(generate_video)

    def __init__(self, config: SyntheticConfig = SyntheticConfig(), num_videos: int = 1000, seed: int = 0):
        super().__init__(config, num_videos, seed)
        self.class_names = list(config.classes)
