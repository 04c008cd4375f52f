"""A small frame whose object differs from its background by colour alone, for the colour
model's tests (box cuts, the colour gate)."""

import numpy as np

SIZE = 32


def scene(seed=0):
    """A red disc on a green-blue textured background: its tight box holds background too.
    Returns (RGB uint8 [SIZE, SIZE, 3], the disc's mask)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((SIZE, SIZE, 3), np.uint8)
    img[..., 1] = rng.integers(100, 220, (SIZE, SIZE))
    img[..., 2] = rng.integers(60, 200, (SIZE, SIZE))
    yy, xx = np.mgrid[:SIZE, :SIZE]
    disc = (yy - 16) ** 2 + (xx - 14) ** 2 <= 7**2
    img[disc] = (220, 30, 40)
    return img, disc


def iou(a, b):
    return (a & b).sum() / (a | b).sum()
