"""The object classes of the synthetic data, defined by shape alone (colour and
texture are drawn independently of class, so a model must learn shape to
classify)."""

from __future__ import annotations

import numpy as np

SHAPE_CLASSES = ("disc", "square", "triangle", "ring", "star", "cross")

_SQRT3 = np.sqrt(3.0)


def shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-test in the object's own frame: (u, v) are coordinates scaled so
    the shape fits the unit disc, centred on the object."""
    if shape == "disc":
        return u * u + v * v <= 1.0
    if shape == "square":
        # Side chosen so its area is close to the disc's: sizes stay comparable.
        return np.maximum(np.abs(u), np.abs(v)) <= 0.85
    if shape == "triangle":
        return (v >= -0.5) & (_SQRT3 * u + v <= 1.0) & (-_SQRT3 * u + v <= 1.0)
    if shape == "ring":
        r2 = u * u + v * v
        return (r2 <= 1.0) & (r2 >= 0.55**2)
    if shape == "star":
        r = np.hypot(u, v)
        theta = np.arctan2(v, u)
        outline = 0.42 + 0.58 * ((1.0 + np.cos(5.0 * theta)) / 2.0) ** 1.5
        return r <= outline
    if shape == "cross":
        au, av = np.abs(u), np.abs(v)
        return ((au <= 0.33) & (av <= 1.0)) | ((av <= 0.33) & (au <= 1.0))
    raise ValueError(f"unknown shape {shape!r}; known: {SHAPE_CLASSES}")
