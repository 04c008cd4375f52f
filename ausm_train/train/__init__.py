"""Training AUSM: teacher forcing (paper Alg. 2), Hungarian matching, Mask2Former
losses, the trainer (one CPU, one GPU or torchrun DDP) and checkpoint evaluation.

    from ausm_train.train import Trainer, load_train_config
    Trainer(load_train_config("ausm_train/configs/demo.yaml"), "runs/demo").train()

Modules, one job each:
  config           the YAML training config (dataclasses, dotted overrides)
  teacher_forcing  ground truth -> History the model reads + Targets the losses read
  matcher          Hungarian matching of detection queries (scipy)
  points           point sampling for mask losses
  losses           objectness / class / mask BCE / Dice, deep supervision
  iterative        the frame-by-frame baseline (streaming path with gradients)
  schedule         warm-up + cosine / step learning rate
  data_factory     config -> dataset; resumable, rank-sharded micro-batch order
  checkpointing    atomic training checkpoints with RNG states
  run_log          CSV, TensorBoard and event log
  trainer          the loop, faults (corrupt samples, non-finite losses), DDP
  evaluate         J&F (prompted) and video AP (unprompted) through StreamSession
"""

from .config import TrainConfig, config_from_dict, load_train_config
from .trainer import NonFiniteLossError, Trainer

__all__ = ["Trainer", "TrainConfig", "NonFiniteLossError", "load_train_config", "config_from_dict"]
