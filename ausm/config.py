"""Model configuration: one dataclass, filled from a named YAML file in ``ausm/configs``.

Sizes live in the YAML files, not in code: ``load_config("tiny")`` reads
``ausm/configs/tiny.yaml``; ``load_config("/path/to/my.yaml")`` reads a file of the
same shape (YAML or JSON). Unknown keys are errors, so a typo cannot silently fall
back to a default.
"""

import argparse
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import yaml

CONFIG_DIR = Path(__file__).parent / "configs"


@dataclass
class ModelConfig:
    name: str = "custom"
    # backbone: "tiny" (conv) or "swin"; backbone_args are passed to its constructor
    backbone: str = "tiny"
    backbone_args: Dict = field(default_factory=dict)
    hidden_dim: int = 64  # D, the width of every token and query
    # model input [H, W]; frames are resized to it. null: keep the frame's own size,
    # rounded up to a multiple of size_divisor.
    input_size: Optional[List[int]] = None
    size_divisor: int = 32
    pixel_mean: List[float] = field(default_factory=lambda: [123.675, 116.28, 103.53])
    pixel_std: List[float] = field(default_factory=lambda: [58.395, 57.12, 57.375])
    pixel_decoder_layers: int = 0  # transformer encoder layers on the 1/32 level
    # temporal SSM in the history compressor
    ssm: str = "mamba1"  # mamba1 | mamba2
    ssm_args: Dict = field(default_factory=lambda: {"d_state": 16, "d_conv": 4, "expand": 2})
    compressor_layers: int = 6
    history_decoder_layers: int = 6
    history_decoder_self_attn: bool = True
    # The mask decoder reads G_t (the history features, the only carrier of the tracked
    # objects' identity) in its first layer: its levels go round robin [G_t, 1/32, 1/16],
    # and the tracked ID rows' first attention mask is their history mask (see MaskDecoder).
    mask_decoder_layers: int = 9
    num_heads: int = 8
    ffn_dim: int = 1024  # compressor / history decoder FFN width
    mask_decoder_ffn_dim: int = 2048
    dropout: float = 0.0
    num_ids: int = 100  # N_id, the ID buffer
    num_det_queries: int = 100  # N_det, learned detection queries
    num_classes: Dict[str, int] = field(default_factory=lambda: {"coco": 80})
    marker_eps: float = 1e-6  # epsilon of the Token Mark average
    # History masks are carried to the new frame by colour affinity within this many
    # pixels of the model input before they are read (ausm/propagation.py); 0: off, as
    # every checkpoint trained before it.
    history_propagation: int = 0
    # With propagation on, the session keeps history masks at the model input resolution and
    # adds what the 1/4 grid loses of them back to the ID rows' mask logits with this gain
    # (ausm.propagation.add_detail); 0: the network's upsampled logits alone.
    history_detail_gain: float = 0.0
    # With propagation on, an ID row's mask keeps only the pixels whose colour is at least this
    # likely to be its object's rather than its surroundings', as they were one frame before
    # (ausm.colour_model); 0: off.
    history_colour_gate: float = 0.0
    # With propagation on, each history mask is first moved by its own best translation within
    # this many pixels at the model input of its translation on the frame before
    # (ausm.propagation.object_shifts, carry_following); 0: off.
    history_search: int = 0
    # Class names per class head (dataset name -> names in class-index order, at most
    # num_classes[head] of them); empty when unknown. Training writes them from its
    # data sets; the ROS node publishes them (LabelInfo, detection labels).
    class_names: Dict[str, List[str]] = field(default_factory=dict)

    def __post_init__(self):
        if self.ssm not in ("mamba1", "mamba2"):
            raise ValueError(f"ssm must be 'mamba1' or 'mamba2', got {self.ssm!r}")
        if self.hidden_dim % self.num_heads:
            raise ValueError(f"hidden_dim {self.hidden_dim} not divisible by num_heads {self.num_heads}")
        if self.input_size is not None:
            self.input_size = [int(v) for v in self.input_size]
            if len(self.input_size) != 2 or any(v % self.size_divisor for v in self.input_size):
                raise ValueError(f"input_size {self.input_size} must be [H, W], multiples of {self.size_divisor}")
        if not self.num_classes:
            raise ValueError("num_classes needs at least one dataset head")
        self.num_classes = {str(k): int(v) for k, v in self.num_classes.items()}
        if self.mask_decoder_layers < 1:
            raise ValueError(
                f"mask_decoder_layers {self.mask_decoder_layers} never reads the history features G_t "
                "(read in layer 0); need at least 1"
            )
        self.class_names = {str(k): [str(n) for n in v] for k, v in (self.class_names or {}).items()}
        for head, names in self.class_names.items():
            if head not in self.num_classes:
                raise ValueError(f"class_names for '{head}', which is not a class head ({sorted(self.num_classes)})")
            if len(names) > self.num_classes[head]:
                raise ValueError(
                    f"class_names['{head}'] has {len(names)} names, the head {self.num_classes[head]} classes"
                )

    def to_dict(self) -> Dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: Dict) -> "ModelConfig":
        d = dict(d)
        # Configs saved while the decoder order was a switch carry it; true is the only order
        # there is now, false (G_t first read in layer 2) is no longer built.
        if not d.pop("mask_decoder_history_first", True):
            raise ValueError(
                "this config (or checkpoint) has mask_decoder_history_first: false, the decoder order "
                "[1/32, 1/16, G_t] that this version no longer builds; retrain, or use a release before it"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown model config keys: {unknown}")
        return cls(**d)

    def model_size(self, image_hw: Tuple[int, int]) -> Tuple[int, int]:
        """The (H, W) the network runs at for a frame of size ``image_hw``."""
        if self.input_size is not None:
            return tuple(self.input_size)
        m = self.size_divisor
        return tuple(-(-int(v) // m) * m for v in image_hw)


def parse_size(text: str) -> Tuple[int, int]:
    """'640x480' -> (640, 480): width x height, the order camera resolutions are written in.
    Every command line of this project (``--size``, ``--input-size``) takes sizes this way;
    in code and configs sizes are (H, W) lists and tuples, so callers swap."""
    try:
        w, h = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WxH (width x height), e.g. 640x480, not {text!r}") from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"size {text!r} must be positive")
    return w, h


def available_configs() -> List[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def load_config(name_or_path: Union[str, Path, ModelConfig, Dict], **overrides) -> ModelConfig:
    """A named config (``tiny``, ``swin_t``, ``swin_b``) or a YAML/JSON file path;
    ``overrides`` replace top-level keys (e.g. ``input_size=[128, 96]``)."""
    if isinstance(name_or_path, ModelConfig):
        d = name_or_path.to_dict()
    elif isinstance(name_or_path, dict):
        d = dict(name_or_path)
    else:
        p = Path(name_or_path)
        if not p.suffix and not p.exists():
            p = CONFIG_DIR / f"{name_or_path}.yaml"
            if not p.exists():
                raise ValueError(f"unknown config '{name_or_path}'; named configs: {available_configs()}")
        if not p.exists():
            raise ValueError(f"config file not found: {p}")
        d = yaml.safe_load(p.read_text()) or {}
        d.setdefault("name", p.stem)
    d.update(overrides)
    return ModelConfig.from_dict(d)
