"""Command line of the training package.

  python -m ausm_train train --config ausm_train/configs/demo.yaml --out runs/demo [--resume]
  python -m ausm_train eval --checkpoint runs/demo/model.safetensors --data synthetic
  torchrun --nproc_per_node 4 -m ausm_train train --config ausm_train/configs/stage2.yaml --out runs/s2
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_train(args):
    from .train.config import load_train_config, parse_overrides
    from .train.trainer import NonFiniteLossError, Trainer
    cfg = load_train_config(args.config, parse_overrides(args.set))
    out = Path(args.out)
    if not args.resume and (out / "train_state.pt").exists() and not args.overwrite:
        print(f"{out} already holds a run; pass --resume to continue it or --overwrite to start over",
              file=sys.stderr)
        return 2
    try:
        summary = Trainer(cfg, out, resume=args.resume, stop_after=args.stop_after).train()
    except NonFiniteLossError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    if summary.get("world_size", 1) == 1 or _rank() == 0:
        print(json.dumps(summary, indent=2))
    return 0


def _rank():
    import torch.distributed as dist
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def cmd_eval(args):
    import torch

    from ausm.checkpoint import load_checkpoint

    from .train.evaluate import evaluate_clips, headline, held_out_synthetic, synthetic_settings, train_config_of
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.data != "synthetic":
        print("only --data synthetic is supported here; real datasets: ausm_train.metrics on saved predictions",
              file=sys.stderr)
        return 2
    model = load_checkpoint(args.checkpoint, device=args.device)
    settings, train_seed = synthetic_settings(train_config_of(args.checkpoint))
    if args.synthetic:
        settings.update(json.loads(args.synthetic))
    if args.seed == train_seed:
        print(f"warning: --seed {args.seed} is the training data seed: these videos are not held out",
              file=sys.stderr)
    clips = held_out_synthetic(settings, args.num_videos, args.seed, args.frames)
    prompts = ("mask", "box") if args.prompts == "both" else (args.prompts,)
    session = {"score_threshold": args.score_threshold, "top_k": args.top_k}
    results = evaluate_clips(model, clips, prompts=prompts, unprompted=not args.no_unprompted,
                             session_settings=session)
    results["held_out"] = {"seed": args.seed, "num_videos": args.num_videos, "frames": args.frames,
                           "generator": settings, "session": session}
    results["headline"] = headline(results)
    text = json.dumps(results, indent=2, default=float)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)
    return 0


def build_parser():
    p = argparse.ArgumentParser(prog="python -m ausm_train", description="AUSM offline training")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train (or resume) a run; torchrun-aware")
    t.add_argument("--config", required=True, help="training YAML (ausm_train/configs/*.yaml)")
    t.add_argument("--out", required=True, help="run folder: checkpoints, logs, model.safetensors")
    t.add_argument("--resume", action="store_true", help="continue from OUT/train_state.pt")
    t.add_argument("--overwrite", action="store_true", help="start over in a folder that holds a run")
    t.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="override config values, e.g. --set steps=100 optim.lr=3e-4")
    t.add_argument("--stop-after", type=int, default=None,
                   help="stop (with a checkpoint) once this many steps are done; --resume continues")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="J&F (prompted) and video AP (unprompted) on held-out videos")
    e.add_argument("--checkpoint", required=True, help="model .safetensors")
    e.add_argument("--data", default="synthetic", choices=["synthetic"])
    e.add_argument("--num-videos", type=int, default=50)
    e.add_argument("--seed", type=int, default=1000, help="held-out data seed (training used another)")
    e.add_argument("--frames", type=int, default=16, help="frames per held-out video")
    e.add_argument("--synthetic", default=None, help='JSON overrides of the generator, e.g. \'{"max_objects": 3}\'')
    e.add_argument("--prompts", choices=["mask", "box", "both"], default="both")
    e.add_argument("--no-unprompted", action="store_true")
    e.add_argument("--score-threshold", type=float, default=0.5,
                   help="unprompted: objectness for a detection to start a track (session default 0.5)")
    e.add_argument("--top-k", type=int, default=10, help="unprompted: most new tracks per frame")
    e.add_argument("--device", default="cpu")
    e.add_argument("--threads", type=int, default=2)
    e.add_argument("--json", default=None, help="also write the results here")
    e.set_defaults(func=cmd_eval)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)
