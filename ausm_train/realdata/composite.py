"""Videos composited from real imagery: regions cut out of real photographs and
real video frames, with their own textures and boundaries, moving over real
backgrounds (a photograph seen by a panning, zooming, shaking camera, or a run
of consecutive real video frames), with occlusion by depth order, entries and
exits, scale change, rotation, motion blur, lighting change and sensor noise.

Object masks come from a graph-based segmentation of the real images
(``skimage.segmentation.felzenszwalb``): each kept region is compact, of a
plausible size and does not touch the image border, so its outline is a real
boundary of the photograph, not a drawn shape. The regions carry no class:
clips are class-agnostic (NO_CATEGORY), so they teach masks, objectness and
tracking, while the synthetic shapes keep teaching classes.

Training draws only from the ``train`` split of ``ausm_train.realdata.pool`` and
validation only from ``val``: objects and backgrounds of validation videos are
images the network never saw. Every video is a pure function of
(config, seed, index).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from ..data.source import GeneratedVideoSource
from ..data.types import NO_CATEGORY, VideoClip
from ..synthetic.scene import edge_motion
from .pool import photos, video_frames


@dataclass(frozen=True)
class CompositeConfig:
    """Sizes and speeds are fractions of the shorter image side (speeds per frame)."""

    height: int = 96
    width: int = 128
    num_frames: int = 12
    min_objects: int = 1
    max_objects: int = 4
    split: str = "train"
    area: tuple[float, float] = (0.015, 0.15)  # object area, fraction of the frame
    max_speed: float = 0.035
    enter_prob: float = 0.25
    exit_prob: float = 0.25
    max_scale_rate: float = 0.03
    max_spin: float = 0.03
    camera_speed: float = 0.015
    shake: float = 0.008
    video_background_prob: float = 0.4
    blur_prob: float = 0.3
    lighting: float = 0.03  # per-frame gain drift
    noise_sigma: tuple[float, float] = (1.0, 5.0)
    name: str = "real_composite"

    def __post_init__(self):
        if self.split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {self.split!r}")
        if not 1 <= self.min_objects <= self.max_objects:
            raise ValueError("need 1 <= min_objects <= max_objects")
        if not 0 <= self.enter_prob + self.exit_prob <= 1:
            raise ValueError("enter_prob + exit_prob must lie in [0, 1]")
        if self.height < 16 or self.width < 16 or self.num_frames < 1:
            raise ValueError("frames must be at least 16x16 and videos at least 1 frame long")


@dataclass(frozen=True)
class Cutout:
    rgb: np.ndarray  # uint8 [h, w, 3]
    alpha: np.ndarray  # float32 [h, w] in [0, 1], soft edge
    source: str


def _regions(image: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Compact, border-free regions of a graph-based segmentation (bool masks)."""
    from skimage.segmentation import felzenszwalb

    labels = felzenszwalb(
        image,
        scale=float(rng.choice([150, 400, 1000])),
        sigma=0.8,
        min_size=max(30, image.shape[0] * image.shape[1] // 400),
    )
    total = labels.size
    keep = []
    for lab in np.unique(labels):
        m = labels == lab
        area = int(m.sum())
        if not 0.004 * total <= area <= 0.3 * total:
            continue
        if m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any():
            continue
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        hull = cv2.contourArea(cv2.convexHull(np.concatenate(contours)))
        if hull <= 0 or area / hull < 0.6:
            continue
        keep.append(m)
    return keep


@functools.lru_cache(maxsize=4)
def cutout_bank(split: str, seed: int = 0) -> tuple[Cutout, ...]:
    """Every object the composites of a split can use (a few seconds to build)."""
    rng = np.random.default_rng([seed, 7])
    sources = list(photos(split)) + list(video_frames(split))[::6]
    bank = []
    for src in sources:
        image = src.pixels
        s = 256.0 / max(image.shape[:2])
        if s < 1:
            image = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        for m in _regions(image, rng):
            ys, xs = np.nonzero(m)
            y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
            alpha = cv2.GaussianBlur(m[y0:y1, x0:x1].astype(np.float32), (3, 3), 0.7)
            bank.append(Cutout(np.ascontiguousarray(image[y0:y1, x0:x1]), alpha, src.name))
    if not bank:
        raise RuntimeError(f"no object regions found in the {split} images")
    return tuple(bank)


def _backgrounds(split: str) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    """Photographs, and the split's videos as runs of consecutive frames."""
    runs: dict[str, list[np.ndarray]] = {}
    for f in video_frames(split):
        runs.setdefault(f.name.split("#")[0], []).append(f.pixels)
    return [p.pixels for p in photos(split)], list(runs.values())


class _Camera:
    """A crop window over a background image: drift, zoom and shake."""

    def __init__(self, cfg: CompositeConfig, bg_hw, rng: np.random.Generator):
        H, W = bg_hw
        aspect = cfg.width / cfg.height
        self.base_h = rng.uniform(0.45, 0.95) * min(H, W / aspect)
        self.aspect, self.bg_hw, self.T = aspect, (H, W), cfg.num_frames
        side = self.base_h
        d = rng.normal(size=2)
        self.drift = d / max(np.linalg.norm(d), 1e-9) * cfg.camera_speed * side * rng.uniform(0, 1)
        self.zoom_rate = rng.uniform(-0.01, 0.01)
        self.shake = rng.normal(0.0, cfg.shake * side, size=(cfg.num_frames, 2))
        self.center0 = np.array([W / 2, H / 2]) - self.drift * cfg.num_frames / 2
        self.center0 += rng.uniform(-0.3, 0.3, size=2) * np.array([W - side * aspect, H - side]).clip(0)

    def view(self, image: np.ndarray, t: int, out_hw) -> np.ndarray:
        H, W = self.bg_hw
        h = self.base_h * np.exp(self.zoom_rate * t)
        w = h * self.aspect
        c = self.center0 + self.drift * t + self.shake[t]
        c = np.clip(c, [w / 2, h / 2], [W - w / 2, H - h / 2])
        sx, sy = out_hw[1] / w, out_hw[0] / h
        m = np.array([[sx, 0, -(c[0] - w / 2) * sx], [0, sy, -(c[1] - h / 2) * sy]])
        return cv2.warpAffine(image, m, (out_hw[1], out_hw[0]), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)


def _motion_blur(rgb: np.ndarray, alpha: np.ndarray, velocity: np.ndarray):
    length = int(min(9, round(np.linalg.norm(velocity))))
    if length < 2:
        return rgb, alpha
    k = np.zeros((length, length), np.float32)
    d = velocity / np.linalg.norm(velocity)
    c = (length - 1) / 2
    for s in np.linspace(-c, c, 2 * length):
        k[int(round(c + s * d[1])), int(round(c + s * d[0]))] = 1
    k /= k.sum()
    return cv2.filter2D(rgb, -1, k), cv2.filter2D(alpha, -1, k)


def render_composite(cfg: CompositeConfig, seed: int, index: int) -> VideoClip:
    rng = np.random.default_rng([int(seed), int(index), 1])
    h, w, T = cfg.height, cfg.width, cfg.num_frames
    side = float(min(h, w))
    bank = cutout_bank(cfg.split)
    stills, runs = _backgrounds(cfg.split)

    # background: a run of real video frames, or a photograph under a moving camera
    if runs and rng.random() < cfg.video_background_prob:
        run = runs[int(rng.integers(len(runs)))]
        step = int(rng.integers(1, 3))
        first = int(rng.integers(0, max(1, len(run) - step * (T - 1))))
        frames_bg = [run[min(first + step * t, len(run) - 1)] for t in range(T)]
    else:
        still = stills[int(rng.integers(len(stills)))]
        frames_bg = [still] * T
    if rng.random() < 0.5:
        frames_bg = [f[:, ::-1] for f in frames_bg]
    camera = _Camera(cfg, frames_bg[0].shape[:2], rng)

    n_obj = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    objects = []
    for _ in range(n_obj):
        cut = bank[int(rng.integers(len(bank)))]
        ch, cw = cut.alpha.shape
        target_area = rng.uniform(*cfg.area) * h * w
        scale = np.sqrt(target_area / max(float(cut.alpha.sum()), 1.0))
        reach = 0.5 * np.hypot(ch, cw) * scale
        speed = rng.uniform(0.15, 1.0) * cfg.max_speed * side
        mode = rng.random()
        if mode < cfg.enter_prob:
            delay = rng.uniform(0, T / 2)
            pos, vel = edge_motion(cfg, rng, reach + speed * delay, speed)
        elif mode < cfg.enter_prob + cfg.exit_prob:
            speed = max(speed, 0.6 * cfg.max_speed * side)
            gone = rng.uniform(0.4, 0.9) * T
            pos, vel = edge_motion(cfg, rng, reach - speed * gone, speed)
            vel = -vel
        else:
            pos = np.array([rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h])
            heading = rng.uniform(0, 2 * np.pi)
            vel = speed * np.array([np.cos(heading), np.sin(heading)])
        objects.append(
            dict(
                cut=cut,
                pos=pos,
                vel=vel,
                scale=scale,
                scale_rate=rng.uniform(-cfg.max_scale_rate, cfg.max_scale_rate),
                angle=rng.uniform(-0.4, 0.4),
                spin=rng.uniform(-cfg.max_spin, cfg.max_spin),
                flip=rng.random() < 0.5,
                blur=rng.random() < cfg.blur_prob,
                gain=rng.uniform(0.75, 1.25),
                gain_rate=rng.uniform(-0.01, 0.01),
            )
        )

    gain = 1.0
    noise_sigma = rng.uniform(*cfg.noise_sigma)
    frames = np.zeros((T, h, w, 3), np.uint8)
    labels = np.zeros((T, h, w), np.int32)
    for t in range(T):
        image = camera.view(np.ascontiguousarray(frames_bg[t]), t, (h, w)).astype(np.float32)
        for label, o in enumerate(objects, start=1):  # later objects are nearer
            cut = o["cut"]
            rgb, alpha = cut.rgb, cut.alpha
            if o["flip"]:
                rgb, alpha = rgb[:, ::-1], alpha[:, ::-1]
            s = o["scale"] * np.exp(o["scale_rate"] * t)
            ang = np.degrees(o["angle"] + o["spin"] * t)
            centre = o["pos"] + o["vel"] * t
            ch, cw = alpha.shape
            m = cv2.getRotationMatrix2D(((cw - 1) / 2, (ch - 1) / 2), ang, s)
            m[:, 2] += centre - np.array([(cw - 1) / 2, (ch - 1) / 2])
            warped = cv2.warpAffine(np.ascontiguousarray(rgb), m, (w, h), flags=cv2.INTER_LINEAR)
            a = cv2.warpAffine(np.ascontiguousarray(alpha), m, (w, h), flags=cv2.INTER_LINEAR)
            if o["blur"]:
                warped, a = _motion_blur(warped, a, o["vel"])
            shade = o["gain"] * (1 + o["gain_rate"] * t)
            a3 = a[..., None]
            image = image * (1 - a3) + warped.astype(np.float32) * shade * a3
            labels[t][a > 0.5] = label
        gain *= 1 + rng.uniform(-cfg.lighting, cfg.lighting)
        image = image * gain + rng.normal(0.0, noise_sigma, size=image.shape)
        frames[t] = np.clip(np.rint(image), 0, 255).astype(np.uint8)

    masks = np.stack([labels == k for k in range(1, n_obj + 1)])
    # an object must be seen properly somewhere: drop slivers that never exceed a few pixels
    visible = masks.reshape(n_obj, T, -1).sum(-1).max(1) >= 12
    masks = masks[visible]
    return VideoClip(
        frames=frames,
        masks=masks,
        instance_ids=np.arange(1, len(masks) + 1),
        category_ids=np.full(len(masks), NO_CATEGORY),
        dataset=cfg.name,
        video=f"{cfg.split}_s{seed}_{index:05d}",
        frame_names=[f"{t:05d}" for t in range(T)],
    )


class RealCompositeSource(GeneratedVideoSource):
    """Composited videos generated on demand (same interface as the real-data loaders);
    class-agnostic."""

    render = staticmethod(render_composite)

    def __init__(self, config: CompositeConfig = CompositeConfig(), num_videos: int = 1000, seed: int = 0):
        super().__init__(config, num_videos, seed)
        self.video_prefix = f"{config.split}_"
        self.class_names: list[str] = []
