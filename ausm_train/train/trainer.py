"""The training loop: one CPU, one GPU, or many under ``torchrun`` (DDP).

Per optimiser step: ``grad_accum`` micro-batches, each teacher-forced (teacher_forcing.py)
and run through the model in one parallel pass (or frame by frame with
``mode: iterative``), Mask2Former losses (losses.py), backward; then gradient
clipping, AdamW and the LR schedule.

Faults a long run meets, and what happens:
  * a corrupt sample: the data layer hands it over as a CorruptSample; it is dropped
    from its batch, logged to events.log and counted (``corrupt_samples``). A
    micro-batch left empty on any process is skipped on all of them.
  * a non-finite loss or gradient: the step is skipped (no update) and counted;
    more than ``max_nonfinite`` skips abort with NonFiniteLossError.
  * ``kill -9``: the run restarts with ``resume=True`` from its last atomic checkpoint
    (checkpointing.py) and continues with the same data and random numbers, so its
    loss curve is the one an uninterrupted run would have drawn.
Randomness that shapes a step (teacher forcing, point sampling) comes from generators
seeded by (seed, step, micro-batch, rank), so it does not depend on where a run resumed.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ausm import build_model
from ausm.checkpoint import import_backbone, load_weights, save_checkpoint
from ausm.modules import IDBuffer
from ausm.propagation import align_history, clip_affinities

from .checkpointing import load_training_state, save_training_state, set_rng_state
from .data_factory import EpochItems, ResumableBatches, build_dataset
from .history_probe import HistoryProbe
from .iterative import forward_iterative
from .losses import SetCriterion
from .own_predictions import own_prediction_history
from .run_log import RunLog
from .schedule import LRSchedule
from .teacher_forcing import teacher_force

STATE_FILE = "train_state.pt"
MODEL_FILE = "model.safetensors"


class NonFiniteLossError(RuntimeError):
    pass


def distributed_context():
    """(rank, world size, local rank); joins the process group when started by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0"))
    return 0, 1, 0


def pick_device(name, local_rank):
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def all_reduce(value, op="sum"):
    """A Python number reduced over processes (itself when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    t = torch.tensor(float(value), dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MIN)
    return t.item()


def param_groups(model, cfg):
    """AdamW groups: the backbone at ``backbone_lr_mult`` of the rate (it is pretrained in
    the paper's recipe); no weight decay on norms, biases, embeddings, ID vectors and
    the SSM's A_log / D (decaying them only pulls them off their designed init)."""
    no_decay = set()
    for module in model.modules():
        if isinstance(module, (torch.nn.Embedding, IDBuffer)):
            no_decay.update(id(p) for p in module.parameters(recurse=False))
    groups = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        decay = p.ndim >= 2 and id(p) not in no_decay and not getattr(p, "_no_weight_decay", False)
        backbone = name.startswith("backbone.")
        key = (backbone, decay)
        if key not in groups:
            groups[key] = {
                "params": [],
                "lr": cfg.lr * (cfg.backbone_lr_mult if backbone else 1.0),
                "weight_decay": cfg.weight_decay if decay else 0.0,
            }
        groups[key]["params"].append(p)
    return list(groups.values())


def check_class_heads(model, dataset):
    heads = model.config.num_classes
    for name, n in dataset.class_heads().items():
        if n and name not in heads:
            raise ValueError(
                f"dataset '{name}' has {n} classes but the model has no '{name}' class head; "
                f"add it to model_overrides.num_classes (heads: {heads})"
            )
        if n and heads[name] < n:
            raise ValueError(f"class head '{name}' has {heads[name]} classes, dataset '{name}' needs {n}")


def class_names_of(dataset):
    """Dataset name -> its class names (in class-index order), for heads that have names."""
    names = {}
    for d in getattr(dataset, "datasets", []):
        if getattr(d, "class_names", None):
            names[d.name] = [str(n) for n in d.class_names]
    return names


class Trainer:
    def __init__(self, cfg, out_dir, resume=False, stop_after=None):
        self.cfg, self.out_dir, self.stop_after = cfg, Path(out_dir), stop_after
        self.rank, self.world, local_rank = distributed_context()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.device = pick_device(cfg.device, local_rank)
        if cfg.mode == "iterative" and self.world > 1:
            raise ValueError("mode: iterative is a single-process baseline; use mode: parallel with torchrun")
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        np.random.seed(cfg.seed)

        self.dataset = build_dataset(cfg.data)
        self.model, init_notes = self._build_model()
        self.ddp_model = self.model
        if self.world > 1:
            # per-dataset heads and empty ID rows leave some parameters unused in a step
            self.ddp_model = DistributedDataParallel(
                self.model,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=True,
            )

        self.probe = None
        groups = param_groups(self.model, cfg.optim)
        if cfg.loss.history_probe_weight > 0:
            self.probe = HistoryProbe(self.model.config.hidden_dim).to(self.device)
            self.probe.attach(self.model)
            groups.append({"params": list(self.probe.parameters()), "lr": cfg.optim.lr, "weight_decay": 0.0})
        self.optimizer = torch.optim.AdamW(groups, lr=cfg.optim.lr, betas=tuple(cfg.optim.betas))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, LRSchedule(cfg.steps, cfg.schedule))
        cuda = self.device.type == "cuda"
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.amp) if cuda else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=cuda and cfg.amp == "fp16")
        self.criterion = SetCriterion(cfg.loss)

        self.step, self.data_position = 0, 0
        self.counters = {"skipped_nonfinite": 0, "corrupt_samples": 0, "empty_batches": 0}
        resume_step = None
        if resume:
            resume_step = self._resume()
        self.log = RunLog(self.out_dir, enabled=self.rank == 0, resume_step=resume_step)
        if self.rank == 0:
            (self.out_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
            for line in init_notes if not resume else []:
                self.log.event(line)
            if resume:
                self.log.event(f"resumed at step {resume_step} (data position {self.data_position})")
                if self._resumed_world != self.world:
                    self.log.event(
                        f"warning: the run was saved with {self._resumed_world} processes and "
                        f"resumes with {self.world}: the data order differs from the original"
                    )

    def _build_model(self):
        """The model, its starting weights and frozen parts; plus notes for the event log."""
        cfg = self.cfg
        model = build_model(cfg.model, **cfg.model_overrides).to(self.device)
        check_class_heads(model, self.dataset)
        notes = []
        names = class_names_of(self.dataset)
        if names:
            # saved with the config in every checkpoint, for the ROS node's labels
            model.config.class_names = {**model.config.class_names, **names}
            notes.append("class names: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in names.items()))
        if cfg.init_backbone:
            report = import_backbone(model, cfg.init_backbone)
            notes.append(f"initialised backbone from {cfg.init_backbone}: {report}")
        if cfg.init_checkpoint:
            # not strict: a later stage may add class heads the earlier one lacked
            report = load_weights(model, load_file(cfg.init_checkpoint), strict=False)
            notes.append(f"initialised weights from {cfg.init_checkpoint}: {report}")
        if cfg.freeze_backbone:
            for p in model.backbone.parameters():
                p.requires_grad_(False)
        return model, notes

    # -- state -------------------------------------------------------------------
    def _resume(self):
        path = self.out_dir / STATE_FILE
        if not path.exists():
            raise FileNotFoundError(f"--resume: no checkpoint at {path}")
        state = load_training_state(path)
        self.model.load_state_dict(state["model"])
        if self.probe is not None and "probe" in state:
            self.probe.load_state_dict(state["probe"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        self.step, self.data_position = state["step"], state["data_position"]
        self.counters.update(state["counters"])
        self._resumed_world = state.get("world_size", self.world)
        return self.step

    def save(self):
        if self.rank != 0:
            return
        save_training_state(
            self.out_dir / STATE_FILE,
            self.model,
            self.optimizer,
            self.scheduler,
            self.scaler,
            self.step,
            self.data_position,
            self.counters,
            self.cfg.to_dict(),
            self.world,
            extra={"probe": self.probe.state_dict()} if self.probe is not None else None,
        )
        save_checkpoint(
            self.model,
            self.out_dir / MODEL_FILE,
            metadata={"train_config": self.cfg.to_dict(), "train_step": self.step},
        )

    # -- data ----------------------------------------------------------------------
    def batches(self):
        cfg = self.cfg.data
        sampler = ResumableBatches(
            len(self.dataset),
            cfg.batch_size,
            self.rank,
            self.world,
            start=self.data_position,
            stop=self.cfg.steps * self.cfg.grad_accum,
        )
        loader = torch.utils.data.DataLoader(
            EpochItems(self.dataset),
            batch_sampler=sampler,
            num_workers=cfg.num_workers,
            collate_fn=_collate,
            generator=torch.Generator().manual_seed(self.cfg.seed),
            persistent_workers=False,
        )
        return iter(loader)

    def _take(self, batch):
        """Count and log corrupt samples; True when every process has clips to train on."""
        for c in batch.corrupt:
            self.log.event(f"corrupt sample skipped: dataset={c.dataset} video={c.video}: {c.reason}")
        self.counters["corrupt_samples"] += int(all_reduce(len(batch.corrupt)))
        usable = all_reduce(1.0 if len(batch.clips) else 0.0, op="min") > 0
        if not usable:
            self.counters["empty_batches"] += 1
            self.log.event(f"step {self.step + 1}: micro-batch without usable clips skipped")
        return usable

    # -- one step ------------------------------------------------------------------
    def micro_loss(self, batch, micro):
        cfg = self.cfg
        rng = np.random.default_rng([cfg.seed, self.step, micro, self.rank])
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        frames = batch.frames_tensor().to(self.device).float().div_(255.0)
        radius = self.model.config.history_propagation
        # with propagation the session keeps an absent object's mark: train on such history
        history, targets, _ = teacher_force(
            batch.clips, self.model.config.num_ids, rng, cfg.teacher_forcing, self.device, keep_marks=radius > 0
        )
        autocast = torch.autocast("cuda", dtype=self.amp_dtype) if self.amp_dtype else contextlib.nullcontext()
        weights = clip_affinities(frames, radius) if radius > 0 and frames.shape[1] > 1 else None
        align = (lambda h: h) if weights is None else (lambda h: align_history(h, weights))
        aligned = align(history)
        if cfg.mode == "parallel" and rng.random() < cfg.teacher_forcing.own_prediction_prob:
            with torch.no_grad(), autocast:
                own = own_prediction_history(self.model(frames, aligned), history, keep_marks=radius > 0)
                aligned = align(own)
        history = aligned
        with autocast:
            if cfg.mode == "parallel":
                out = self.ddp_model(frames, history)
            else:
                out = forward_iterative(self.model, frames, history)
        loss, parts = self.criterion(out, targets, gen)
        if self.probe is not None:
            probe = self.probe.loss(self.model, history, targets)
            loss = loss + cfg.loss.history_probe_weight * probe
            parts["history_probe"] = float(probe.detach())
        return loss, parts

    def train_step(self, batches):
        cfg = self.cfg
        self.model.train()
        if cfg.freeze_backbone:
            self.model.backbone.eval()  # frozen BatchNorm statistics too
        self.optimizer.zero_grad(set_to_none=True)
        # BatchNorm statistics move in the forward pass; a skipped step must not keep
        # what a bad batch did to them
        buffers = {k: v.clone() for k, v in self.model.named_buffers()}
        finite, ran, parts_sum = True, 0, {}
        for micro in range(cfg.grad_accum):
            batch = next(batches)
            self.data_position += 1
            if not self._take(batch):
                continue
            last = micro == cfg.grad_accum - 1
            sync = contextlib.nullcontext() if last or self.world == 1 else self.ddp_model.no_sync()
            with sync:
                loss, parts = self.micro_loss(batch, micro)
                # backward even on a bad loss: under DDP every rank must join the
                # gradient all-reduce; the update is dropped below
                self.scaler.scale(loss / cfg.grad_accum).backward()
            finite &= bool(torch.isfinite(loss.detach()))  # gradients are checked below
            ran += 1
            parts["loss"] = float(loss.detach())
            for k, v in parts.items():
                parts_sum[k] = parts_sum.get(k, 0.0) + v / cfg.grad_accum

        grad_norm = float("nan")
        if ran and self.probe is not None and self.world > 1:
            # the probe is outside DDP: average its gradients by hand
            for p in self.probe.parameters():
                if p.grad is not None:
                    dist.all_reduce(p.grad)
                    p.grad /= self.world
        if ran:
            self.scaler.unscale_(self.optimizer)
            params = [p for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
            clip = cfg.optim.grad_clip if cfg.optim.grad_clip > 0 else float("inf")
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, clip)) if params else 0.0
            if not self.scaler.is_enabled():
                # with fp16 the grad scaler skips inf/NaN gradients itself while it
                # calibrates its scale; those are expected and not counted
                finite &= math.isfinite(grad_norm)
            finite = all_reduce(1.0 if finite else 0.0, op="min") > 0
            if finite:
                self.scaler.step(self.optimizer)
            else:
                with torch.no_grad():
                    for k, v in self.model.named_buffers():
                        v.copy_(buffers[k])
                self._nonfinite(parts_sum.get("loss", float("nan")), grad_norm)
            self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        with warnings.catch_warnings():
            # a skipped first step makes torch warn that the schedule moved before the optimiser
            warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()`"))
            self.scheduler.step()
        self.step += 1
        return parts_sum, grad_norm, ran > 0 and finite

    def _nonfinite(self, loss, grad_norm):
        self.counters["skipped_nonfinite"] += 1
        n, limit = self.counters["skipped_nonfinite"], self.cfg.max_nonfinite
        self.log.event(
            f"step {self.step + 1}: non-finite loss {loss} / grad norm {grad_norm}: step skipped "
            f"({n} so far, limit {limit})"
        )
        if n > limit:
            msg = (
                f"aborting at step {self.step + 1}: {n} steps had a non-finite loss or gradient (limit "
                f"max_nonfinite={limit}). The weights are still those of the last good step "
                f"(checkpoint in {self.out_dir}). Lower optim.lr, keep optim.grad_clip on, "
                f"try amp: off, and check the data for broken masks."
            )
            self.log.event(msg)
            raise NonFiniteLossError(msg)

    # -- the loop --------------------------------------------------------------------
    def train(self):
        cfg = self.cfg
        end = cfg.steps if self.stop_after is None else min(cfg.steps, self.stop_after)
        batches = self.batches()
        # redirected to a file, a bar redrawn 10 times a second is megabytes of log
        bar = tqdm(
            total=cfg.steps,
            initial=self.step,
            disable=self.rank != 0,
            desc="train",
            unit="step",
            dynamic_ncols=True,
            mininterval=0.1 if sys.stderr.isatty() else 30.0,
        )
        t_start, last = time.time(), {}
        try:
            while self.step < end:
                t0 = time.time()
                parts, grad_norm, updated = self.train_step(batches)
                dt = time.time() - t0
                if parts:
                    last = parts
                row = {
                    k: parts.get(k, float("nan"))
                    for k in ("loss", "objectness", "class", "mask", "dice", "history_probe", "positives")
                }
                row.update(
                    lr=self.optimizer.param_groups[0]["lr"],
                    grad_norm=grad_norm,
                    sec_per_step=dt,
                    **{k: self.counters[k] for k in ("skipped_nonfinite", "corrupt_samples")},
                )
                if self.step % cfg.log_every == 0 or self.step == end:
                    self.log.scalars(self.step, row)
                bar.update(1)
                bar.set_postfix(loss=f"{row['loss']:.3f}", lr=f"{row['lr']:.2e}")
                if self.step % cfg.ckpt_every == 0 or self.step == end:
                    self.save()
        finally:
            bar.close()
            self.log.close()
        summary = {
            "step": self.step,
            "steps": cfg.steps,
            "world_size": self.world,
            "final_loss": last.get("loss"),
            "seconds": time.time() - t_start,
            "ranks_in_sync": self.ranks_in_sync(),
            **self.counters,
        }
        if self.rank == 0:
            (self.out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return summary

    def ranks_in_sync(self):
        """Whether every process ended with the same weights (DDP's promise)."""
        checksum = torch.tensor(
            [float(sum(p.detach().double().sum() for p in self.model.parameters()))], dtype=torch.float64
        )
        if self.world == 1:
            return True
        gathered = [torch.zeros_like(checksum) for _ in range(self.world)]
        dist.all_gather(gathered, checksum)
        return all(bool(torch.equal(g, gathered[0])) for g in gathered)


def _collate(items):
    from ausm_train.data import collate_clips

    return collate_clips(items)
