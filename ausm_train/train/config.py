"""Training configuration: nested dataclasses filled from one YAML file.

Unknown keys are errors (a typo must not silently train with a default), and any
value can be overridden from the command line with a dotted path
(``--set train.steps=100 optim.lr=3e-4``), parsed as YAML so numbers and lists work.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml


@dataclass
class DataConfig:
    # each source: {kind: synthetic|davis|ytvos|mose|ytvis|ovis|coco|sav|sav_png,
    #               weight: float, args: {constructor keyword arguments}}
    sources: List[Dict[str, Any]] = field(default_factory=list)
    clip_len: int = 4
    stride: List[int] = field(default_factory=lambda: [1, 1])  # inclusive range to draw from
    batch_size: int = 2  # clips per process and micro-step
    num_workers: int = 0
    epoch_length: int = 100000  # items per epoch of the mix
    output_size: Optional[List[int]] = None  # [H, W]; None: sources already have one size
    hflip_prob: float = 0.5
    scale_range: List[float] = field(default_factory=lambda: [0.8, 1.25])
    color_jitter: bool = True
    # share of clips re-encoded as JPEG at a quality drawn from jpeg_quality (cameras'
    # compressed topics and DAVIS / YouTube-VIS frames are JPEG; 0 = off)
    jpeg_prob: float = 0.0
    jpeg_quality: List[int] = field(default_factory=lambda: [30, 95])
    augment: bool = True
    max_instances: int = 10
    seed: int = 0


@dataclass
class TeacherForcingConfig:
    prompt_prob: float = 0.5  # an instance is prompted (else discovered)
    box_prompt_prob: float = 0.3  # a prompt is a filled box, not a mask
    first_appearance_prob: float = 0.5  # a prompt lands on the first visible frame
    never_track_prob: float = 0.15  # a discovered instance stays a detection target
    box_jitter: float = 0.05  # box edges move by up to this fraction of its size
    # share of micro-batches whose ID rows read the model's own previous predictions
    # instead of the ground truth after their switch frame (own_predictions.py)
    own_prediction_prob: float = 0.0


@dataclass
class LossConfig:
    objectness_weight: float = 2.0
    class_weight: float = 2.0
    mask_weight: float = 5.0
    dice_weight: float = 5.0
    no_object_weight: float = 0.1  # unmatched detection queries
    num_points: int = 1024  # points per mask for the mask losses
    oversample_ratio: float = 3.0
    importance_ratio: float = 0.75  # 0: uniform random points
    match_points: int = 1024
    deep_supervision: bool = True
    # First prediction (0 = before the first mask-decoder layer) on which ID rows are
    # supervised; 0 is Mask2Former's deep supervision. Prediction 0 of an ID row comes from
    # its ID vector alone, before layer 0 has read the history G_t, so it cannot know its
    # object (nor does it steer anything: an ID row's first attention mask is its history
    # mask); 1 leaves it unsupervised (the demo configs).
    id_rows_from: int = 0
    history_probe_weight: float = 0.0  # auxiliary loss on G_t (history_probe.py); 0 = off


@dataclass
class OptimConfig:
    lr: float = 1e-4
    weight_decay: float = 0.05
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    backbone_lr_mult: float = 0.1
    grad_clip: float = 1.0  # max global grad norm; 0 disables


@dataclass
class ScheduleConfig:
    warmup_steps: int = 100
    warmup_factor: float = 0.01  # lr multiplier at step 0
    decay: str = "cosine"  # cosine | step | none
    min_lr_ratio: float = 0.01  # cosine floor
    milestones: List[int] = field(default_factory=list)  # step decay
    gamma: float = 0.1


@dataclass
class TrainConfig:
    model: str = "tiny"  # named model config or a YAML/JSON path
    model_overrides: Dict[str, Any] = field(default_factory=dict)
    init_checkpoint: Optional[str] = None  # AUSM weights to start from (previous stage)
    init_backbone: Optional[str] = None  # backbone weights: our own (ausm-backbone/1, e.g. distilled) or official Swin
    steps: int = 1000  # optimiser steps
    grad_accum: int = 1
    mode: str = "parallel"  # parallel (teacher forcing, one pass) | iterative
    amp: str = "bf16"  # bf16 | fp16 | off; only ever used on CUDA
    device: str = "auto"  # auto | cpu | cuda
    freeze_backbone: bool = False
    threads: int = 0  # torch CPU threads; 0 = torch default
    seed: int = 0
    log_every: int = 10
    ckpt_every: int = 100
    max_nonfinite: int = 20  # skipped non-finite steps before aborting
    data: DataConfig = field(default_factory=DataConfig)
    teacher_forcing: TeacherForcingConfig = field(default_factory=TeacherForcingConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)

    def __post_init__(self):
        if self.mode not in ("parallel", "iterative"):
            raise ValueError(f"mode must be 'parallel' or 'iterative', got {self.mode!r}")
        if self.amp not in ("bf16", "fp16", "off"):
            raise ValueError(f"amp must be 'bf16', 'fp16' or 'off', got {self.amp!r}")
        if self.schedule.decay not in ("cosine", "step", "none"):
            raise ValueError(f"schedule.decay must be cosine, step or none, got {self.schedule.decay!r}")
        if self.grad_accum < 1 or self.steps < 1:
            raise ValueError("steps and grad_accum must be at least 1")

    def to_dict(self):
        return dataclasses.asdict(self)


def _build(cls, values, where):
    if not isinstance(values, dict):
        raise ValueError(f"{where or 'config'} must be a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"unknown keys in {where or 'config'}: {unknown}")
    kwargs = {}
    for name, value in values.items():
        sub = fields[name].default_factory
        if dataclasses.is_dataclass(sub) and isinstance(value, dict):
            kwargs[name] = _build(sub, value, f"{where}.{name}" if where else name)
        else:
            kwargs[name] = _coerce(fields[name], value, f"{where}.{name}" if where else name)
    return cls(**kwargs)


def _coerce(f, value, where):
    """YAML reads 3e-4 (no dot) as a string and 1 as an int: give float fields floats."""
    if f.default is dataclasses.MISSING or f.default is None or value is None:
        return value
    if isinstance(f.default, float) and isinstance(value, (int, str)) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{where} must be a number, got {value!r}") from None
    if isinstance(f.default, int) and not isinstance(f.default, bool) and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"{where} must be an integer, got {value!r}") from None
    return value


def _set_dotted(d, dotted, value):
    keys = dotted.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
        if not isinstance(d, dict):
            raise ValueError(f"cannot set {dotted}: {k} is not a section")
    d[keys[-1]] = value


def parse_overrides(items):
    """["a.b=1", "c=[1, 2]"] -> [("a.b", 1), ("c", [1, 2])]"""
    out = []
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not key=value")
        key, text = item.split("=", 1)
        out.append((key.strip(), yaml.safe_load(text)))
    return out


def config_from_dict(values, overrides=()):
    values = yaml.safe_load(yaml.safe_dump(values))  # deep copy, plain types
    for key, value in overrides:
        _set_dotted(values, key, value)
    return _build(TrainConfig, values, "")


def load_train_config(path, overrides=()):
    values = yaml.safe_load(Path(path).read_text()) or {}
    return config_from_dict(values, overrides)
