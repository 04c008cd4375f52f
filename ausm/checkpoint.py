"""Checkpoints: safetensors weights + the model config as JSON.

``save_checkpoint(model, "x.safetensors")`` writes the weights with the config JSON in
the safetensors metadata, and the same JSON next to it as ``x.json`` for humans and
tools. Loading checks the config and names every missing, unexpected or mis-shaped
parameter. Only safetensors and ``torch.load(weights_only=True)`` are ever used to
read files: no pickle code execution.

``import_swin_imagenet`` maps an official Swin release checkpoint (ImageNet classifier
``{"model": state_dict}``, or Mask2Former-style ``backbone.*`` keys) onto our backbone.
"""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .config import ModelConfig, load_config
from .modules.mask_decoder import PRIOR_KEYS

if TYPE_CHECKING:
    from .model import AUSM

CHECKPOINT_FORMAT = "ausm-checkpoint/1"


class CheckpointError(ValueError):
    pass


@dataclass
class LoadReport:
    missing: List[str] = field(default_factory=list)  # in the model, not in the file
    unexpected: List[str] = field(default_factory=list)  # in the file, not in the model
    mismatched: List[str] = field(default_factory=list)  # "name: file shape vs model shape"
    ignored: List[str] = field(default_factory=list)  # dropped on purpose by an importer
    loaded: int = 0

    @property
    def ok(self):
        return not (self.missing or self.unexpected or self.mismatched)

    def __str__(self):
        parts = [f"loaded {self.loaded} tensors"]
        for name in ("missing", "unexpected", "mismatched", "ignored"):
            items = getattr(self, name)
            if items:
                shown = ", ".join(items[:20]) + (f", ... ({len(items)} in all)" if len(items) > 20 else "")
                parts.append(f"{name}: {shown}")
        return "; ".join(parts)


def sidecar_json(path):
    return Path(path).with_suffix(".json")


def save_checkpoint(model: torch.nn.Module, path: Union[str, os.PathLike], metadata: Optional[Dict] = None) -> Path:
    """Weights -> ``path`` (safetensors), config -> metadata and ``<path stem>.json``."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"format": CHECKPOINT_FORMAT, "ausm_config": model.config.to_json()}
    for k, v in (metadata or {}).items():
        meta[str(k)] = v if isinstance(v, str) else json.dumps(v)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(state, str(tmp), metadata=meta)
    os.replace(tmp, path)
    sidecar_json(path).write_text(json.dumps(model.config.to_dict(), indent=2, sort_keys=True) + "\n")
    return path


def read_checkpoint_config(path: Union[str, os.PathLike]) -> ModelConfig:
    """The config stored with a checkpoint (safetensors metadata, else the .json beside it)."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if "ausm_config" in meta:
        return ModelConfig.from_dict(json.loads(meta["ausm_config"]))
    side = sidecar_json(path)
    if side.exists():
        return ModelConfig.from_dict(json.loads(side.read_text()))
    raise CheckpointError(f"{path} carries no model config (no metadata, no {side.name})")


def config_differences(a: ModelConfig, b: ModelConfig, ignore=("name",)):
    da, db = a.to_dict(), b.to_dict()
    return sorted(k for k in da if k not in ignore and da[k] != db.get(k))


def load_weights(model, state_dict, strict=True, prefix=""):
    """Copy ``state_dict`` into ``model`` (optionally a sub-module path ``prefix``), reporting
    problems by name. With ``strict`` any problem raises CheckpointError before anything
    is copied."""
    own = model.state_dict()
    report = LoadReport()
    report.missing = sorted(k for k in own if k not in state_dict)
    if strict and not prefix and any(k in own for k in PRIOR_KEYS) and not any(k in state_dict for k in PRIOR_KEYS):
        # saved before the mask prior existed: a zero gain is the function it was trained as
        state_dict = {**state_dict, **{k: torch.zeros_like(own[k]) for k in PRIOR_KEYS}}
        report.missing = [k for k in report.missing if k not in PRIOR_KEYS]
    report.unexpected = sorted(k for k in state_dict if k not in own)
    for k in sorted(set(own) & set(state_dict)):
        if tuple(own[k].shape) != tuple(state_dict[k].shape):
            report.mismatched.append(f"{prefix}{k}: file {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}")
    if prefix:
        report.missing = [prefix + k for k in report.missing]
        report.unexpected = [prefix + k for k in report.unexpected]
    if strict and not report.ok:
        raise CheckpointError(f"checkpoint does not match the model: {report}")
    bad = {m.split(":")[0][len(prefix) :] for m in report.mismatched}
    with torch.no_grad():
        for k, v in state_dict.items():
            if k in own and k not in bad:
                own[k].copy_(v.to(own[k].dtype))
                report.loaded += 1
    return report


def load_checkpoint(
    path: Union[str, os.PathLike],
    config: Union[None, str, ModelConfig] = None,
    strict: bool = True,
    device: Union[str, torch.device] = "cpu",
) -> "AUSM":
    """Build the model a checkpoint was saved from and load its weights.
    ``config`` (name, path or ModelConfig), if given, must match the stored one."""
    from .model import AUSM

    stored = read_checkpoint_config(path)
    if config is not None:
        wanted = load_config(config)
        diff = config_differences(wanted, stored)
        if diff:
            raise CheckpointError(f"{path} was saved with a different config; differing keys: {diff}")
    model = AUSM(stored)
    report = load_weights(model, load_file(str(path)), strict=strict)
    model.load_report = report
    return model.to(device)


# -- Swin ImageNet / Mask2Former importer ------------------------------------------

# buffers the official code stores but we compute from the window size / input size
_DERIVED = ("relative_position_index", "attn_mask")


def _read_any(source):
    if isinstance(source, dict):
        sd = source
    elif str(source).endswith(".safetensors"):
        sd = load_file(str(source))
    else:
        sd = torch.load(str(source), map_location="cpu", weights_only=True)
    for key in ("model", "state_dict", "model_state"):  # official releases wrap the weights
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    return {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}


def _resize_bias_table(table, size):
    """Bicubic resize of a (2w-1)^2 x heads relative position table to another window."""
    n_old, heads = table.shape
    s_old, s_new = int(round(n_old**0.5)), int(round(size**0.5))
    grid = table.t().reshape(1, heads, s_old, s_old).float()
    grid = F.interpolate(grid, size=(s_new, s_new), mode="bicubic", align_corners=False)
    return grid.reshape(heads, -1).t().to(table.dtype)


def map_swin_state_dict(sd, backbone):
    """Rename/filter an official Swin state dict for ``backbone``.
    Returns (mapped state dict, names dropped on purpose)."""
    own = backbone.state_dict()
    mapped, ignored = {}, []
    for k, v in sd.items():
        name = k
        for p in ("module.", "backbone.", "encoder."):
            if name.startswith(p):
                name = name[len(p) :]
        if (
            k.startswith(("sem_seg_head.", "criterion."))
            or name.startswith("head.")
            or name in ("norm.weight", "norm.bias")
            or name.endswith(_DERIVED)
        ):
            ignored.append(k)  # classifier head / final norm / derived buffers / other heads
            continue
        if name.endswith("relative_position_bias_table") and name in own and v.shape != own[name].shape:
            v = _resize_bias_table(v, own[name].shape[0])
        mapped[name] = v
    return mapped, ignored


def import_swin_imagenet(model, source, strict=False):
    """Load official Swin weights (``.pth`` / ``.safetensors`` path or a state dict) into
    ``model.backbone`` (or a bare SwinTransformer). Stage output norms ``norm0..3`` are not
    in ImageNet checkpoints and stay at their initialisation; they are reported missing."""
    backbone = getattr(model, "backbone", model)
    mapped, ignored = map_swin_state_dict(_read_any(source), backbone)
    prefix = "backbone." if backbone is not model else ""
    report = load_weights(backbone, mapped, strict=False, prefix=prefix)
    report.ignored = sorted(ignored)
    if strict and not report.ok:
        raise CheckpointError(f"Swin import incomplete: {report}")
    return report


BACKBONE_FORMAT = "ausm-backbone/1"


def import_backbone(model, source):
    """Starting weights for ``model.backbone``: a backbone file of our own (safetensors
    with ``format: ausm-backbone/1``, e.g. the tiny backbone distilled from VGG16 by
    ``ausm_train.realdata.distill``), loaded strictly; anything else is read as official
    Swin weights (``import_swin_imagenet``)."""
    if str(source).endswith(".safetensors"):
        with safe_open(str(source), framework="pt") as f:
            meta = f.metadata() or {}
        if meta.get("format") == BACKBONE_FORMAT:
            return load_weights(model.backbone, load_file(str(source)), strict=True, prefix="backbone.")
    return import_swin_imagenet(model, source)
