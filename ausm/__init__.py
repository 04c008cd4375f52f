"""AUSM: Autoregressive Universal Segmentation Model, pure PyTorch (no ROS)."""

from .config import ModelConfig, available_configs, load_config
from .model import AUSM, History, build_model

__all__ = ["AUSM", "History", "ModelConfig", "build_model", "load_config", "available_configs"]
