"""Colours and textures: per-object textures that live in the object's own
frame (so they move and turn with it, a cue for tracking) and a background
larger than the frame (so a moving camera reveals new parts of it)."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import cv2
import numpy as np

TEXTURES = ("plain", "stripes", "checker", "dots", "gradient")


def random_color(
    rng: np.random.Generator, min_saturation: float = 0.45, value: tuple[float, float] = (0.45, 1.0)
) -> np.ndarray:
    h = rng.random()
    s = rng.uniform(min_saturation, 1.0)
    v = rng.uniform(*value)
    return np.array(colorsys.hsv_to_rgb(h, s, v), dtype=np.float32) * 255.0


@dataclass(frozen=True)
class Texture:
    kind: str
    color_a: np.ndarray
    color_b: np.ndarray
    frequency: float
    angle: float

    @staticmethod
    def draw(rng: np.random.Generator) -> "Texture":
        return Texture(
            kind=str(rng.choice(TEXTURES)),
            color_a=random_color(rng),
            color_b=random_color(rng),
            frequency=float(rng.uniform(2.0, 5.0)),
            angle=float(rng.uniform(0, np.pi)),
        )

    def render(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """float32 [..., 3] colours at object-frame coordinates (u, v)."""
        if self.kind == "plain":
            weight = np.zeros_like(u)
        elif self.kind == "stripes":
            along = u * np.cos(self.angle) + v * np.sin(self.angle)
            weight = (np.sin(np.pi * self.frequency * along) > 0).astype(np.float32)
        elif self.kind == "checker":
            weight = ((np.floor(u * self.frequency) + np.floor(v * self.frequency)) % 2).astype(np.float32)
        elif self.kind == "dots":
            fu = (u * self.frequency) % 1.0 - 0.5
            fv = (v * self.frequency) % 1.0 - 0.5
            weight = (fu * fu + fv * fv < 0.09).astype(np.float32)
        elif self.kind == "gradient":
            weight = np.clip((u * np.cos(self.angle) + v * np.sin(self.angle) + 1.0) / 2.0, 0.0, 1.0)
        else:
            raise ValueError(self.kind)
        weight = weight.astype(np.float32)[..., None]
        return self.color_a * (1.0 - weight) + self.color_b * weight


def smooth_noise(height: int, width: int, cell: int, rng: np.random.Generator) -> np.ndarray:
    """float32 [height, width] in [0, 1]: a random grid upsampled bicubically,
    i.e. blobs about ``cell`` pixels across."""
    gh, gw = max(2, height // cell + 2), max(2, width // cell + 2)
    grid = rng.random((gh, gw)).astype(np.float32)
    field = cv2.resize(grid, (gw * cell, gh * cell), interpolation=cv2.INTER_CUBIC)[:height, :width]
    lo, hi = float(field.min()), float(field.max())
    return (field - lo) / max(hi - lo, 1e-6)


def background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """float32 [height, width, 3] background: two desaturated colours mixed by
    smooth noise, plus faint stripes so camera motion is visible everywhere."""
    a = random_color(rng, min_saturation=0.05, value=(0.2, 0.8))
    b = random_color(rng, min_saturation=0.05, value=(0.2, 0.8))
    mix = smooth_noise(height, width, int(rng.integers(12, 40)), rng)[..., None]
    image = a * (1.0 - mix) + b * mix
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(6.0, 20.0)
    stripes = np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period)[..., None]
    return np.clip(image + 12.0 * stripes, 0, 255).astype(np.float32)
