"""Backbones: ``tiny`` (conv, CPU) and ``swin`` (Swin-T / Swin-B by config)."""

from .swin import SwinTransformer
from .tiny import TinyBackbone


def build_backbone(kind, **kwargs):
    if kind == "tiny":
        return TinyBackbone(**kwargs)
    if kind == "swin":
        return SwinTransformer(**kwargs)
    raise ValueError(f"unknown backbone '{kind}', expected 'tiny' or 'swin'")


__all__ = ["TinyBackbone", "SwinTransformer", "build_backbone"]
