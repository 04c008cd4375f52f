"""Command line of the training package.

python -m ausm_train train --config ausm_train/configs/demo.yaml --out runs/demo [--resume]
python -m ausm_train eval --checkpoint runs/demo/model.safetensors --data synthetic
python -m ausm_train eval --checkpoint CK --data davis --root DAVIS --out PRED        # palette PNGs + J&F
python -m ausm_train eval --checkpoint CK --data ytvis --annotations valid.json --images DIR --out PRED
python -m ausm_train score --data davis --root DAVIS --pred PRED                       # J&F of any PNGs
python -m ausm_train score --data ytvis --annotations valid.json --results results.json
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
        print(f"{out} already holds a run; pass --resume to continue it or --overwrite to start over", file=sys.stderr)
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


def _session_settings(args) -> dict:
    return {"foreground_threshold": args.foreground_threshold, "top_k": args.top_k}


def _write_json(path, data) -> None:
    from ausm_eval.io import write_json_atomic

    write_json_atomic(path, json.loads(json.dumps(data, default=float)))


def cmd_eval(args):
    import torch

    from ausm.checkpoint import load_checkpoint

    if args.threads:
        torch.set_num_threads(args.threads)
    missing = {"davis": ("root", "out"), "ytvis": ("annotations", "images", "out")}.get(args.data, ())
    missing = [f"--{m}" for m in missing if getattr(args, m) is None]
    if missing:
        print(f"error: --data {args.data} needs {' and '.join(missing)}", file=sys.stderr)
        return 2
    model = load_checkpoint(args.checkpoint, device=args.device)
    if args.data == "davis":
        return _eval_davis(model, args)
    if args.data == "ytvis":
        return _eval_ytvis(model, args)
    return _eval_synthetic(model, args)


def _eval_davis(model, args):
    from ausm_eval.errors import CorruptSampleError, DatasetFormatError

    from .evaluation import evaluate_davis

    prompts = ("mask", "box") if args.prompts == "both" else (args.prompts or "mask",)
    results = {}
    for prompt in prompts:
        # one prompt kind: PRED/<sequence>/<frame>.png; both: PRED/mask/... and PRED/box/...
        out = Path(args.out) / prompt if len(prompts) > 1 else Path(args.out)
        try:
            result = evaluate_davis(
                model,
                args.root,
                out,
                split=args.split,
                resolution=args.resolution,
                year=args.year,
                prompt=prompt,
                session_settings=_session_settings(args),
                progress=not args.no_progress,
            )
        except (DatasetFormatError, CorruptSampleError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(result.pop("table"))
        results[prompt] = result
    if args.json:
        _write_json(args.json, {"davis": results, "root": str(args.root), "checkpoint": str(args.checkpoint)})
    return 0


def _eval_ytvis(model, args):
    from ausm_eval.errors import CorruptSampleError, DatasetFormatError

    from .evaluation import evaluate_ytvis

    try:
        result = evaluate_ytvis(
            model,
            args.annotations,
            args.images,
            args.out,
            session_settings=_session_settings(args),
            class_head=args.class_head,
            max_per_video=args.max_per_video,
            progress=not args.no_progress,
        )
    except (DatasetFormatError, CorruptSampleError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(result.pop("table"))
    if args.json:
        _write_json(args.json, {"ytvis": result, "checkpoint": str(args.checkpoint)})
    return 0


def _eval_synthetic(model, args):
    from ausm_eval.metrics import format_jf_table

    from .train.evaluate import evaluate_clips, headline, held_out_synthetic, synthetic_settings, train_config_of

    settings, train_seed = synthetic_settings(train_config_of(args.checkpoint))
    if args.synthetic:
        settings.update(json.loads(args.synthetic))
    if args.seed == train_seed:
        print(f"warning: --seed {args.seed} is the training data seed: these videos are not held out", file=sys.stderr)
    clips = held_out_synthetic(settings, args.num_videos, args.seed, args.frames)
    prompts = ("mask", "box") if args.prompts in (None, "both") else (args.prompts,)
    session = _session_settings(args)
    class_names = settings.get("classes")
    if class_names is None:
        from .synthetic import SyntheticConfig

        class_names = SyntheticConfig().classes
    results = evaluate_clips(
        model,
        clips,
        prompts=prompts,
        unprompted=not args.no_unprompted,
        session_settings=session,
        class_names=list(class_names),
    )
    results["held_out"] = {
        "seed": args.seed,
        "num_videos": args.num_videos,
        "frames": args.frames,
        "generator": settings,
        "session": session,
    }
    results["headline"] = headline(results)
    for p in prompts:
        rows = {"model": results[f"prompted_{p}"], **results[f"prompted_{p}_baselines"]}
        print(
            format_jf_table(
                rows, title=f"{p} prompts, {results['videos']} held-out synthetic videos (seed {args.seed})"
            )
        )
        print()
    print(json.dumps(results["headline"], indent=2, default=float))
    if args.json:
        _write_json(args.json, results)
    return 0


def cmd_score(args):
    from ausm_eval.errors import CorruptSampleError, DatasetFormatError
    from ausm_eval.metrics import evaluate_ytvis_json, format_jf_table, score_davis_folder

    try:
        if args.data == "davis":
            if not (args.root and args.pred):
                print("error: --data davis needs --root and --pred", file=sys.stderr)
                return 2
            annotations = Path(args.root) / "Annotations" / args.resolution
            split_file = Path(args.root) / "ImageSets" / args.year / f"{args.split}.txt"
            sequences = None
            if split_file.is_file():
                sequences = [line.strip() for line in split_file.read_text().splitlines() if line.strip()]
            scores = score_davis_folder(annotations, args.pred, sequences, progress=not args.no_progress)
            summary = scores.summary()
            print(format_jf_table(summary, scores.per_video, title=f"J&F of {args.pred} against {annotations}"))
            result = {"summary": summary, "per_video": scores.per_video}
        else:
            if not (args.annotations and args.results):
                print("error: --data ytvis needs --annotations and --results", file=sys.stderr)
                return 2
            result = {"class_aware": evaluate_ytvis_json(args.annotations, args.results)}
            print(json.dumps(result, indent=2, default=float))
    except (DatasetFormatError, CorruptSampleError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        _write_json(args.json, result)
    return 0


def build_parser():
    p = argparse.ArgumentParser(prog="python -m ausm_train", description="AUSM offline training")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train (or resume) a run; torchrun-aware")
    t.add_argument("--config", required=True, help="training YAML (ausm_train/configs/*.yaml)")
    t.add_argument("--out", required=True, help="run folder: checkpoints, logs, model.safetensors")
    t.add_argument("--resume", action="store_true", help="continue from OUT/train_state.pt")
    t.add_argument("--overwrite", action="store_true", help="start over in a folder that holds a run")
    t.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="override config values, e.g. --set steps=100 optim.lr=3e-4",
    )
    t.add_argument(
        "--stop-after",
        type=int,
        default=None,
        help="stop (with a checkpoint) once this many steps are done; --resume continues",
    )
    t.set_defaults(func=cmd_train)

    e = sub.add_parser(
        "eval",
        help="J&F (prompted, beside the static and empty baselines) and video AP "
        "(unprompted) on held-out synthetic videos or a DAVIS / YouTube-VIS folder",
    )
    e.add_argument("--checkpoint", required=True, help="model .safetensors")
    e.add_argument("--data", default="synthetic", choices=["synthetic", "davis", "ytvis"])
    e.add_argument("--root", default=None, help="davis: the DAVIS folder (JPEGImages/, Annotations/, ImageSets/)")
    e.add_argument("--split", default="val", help="davis: ImageSets/<year>/<split>.txt")
    e.add_argument("--resolution", default="480p", help="davis: JPEGImages/<resolution>")
    e.add_argument("--year", default="2017", help="davis: ImageSets/<year>")
    e.add_argument("--annotations", default=None, help="ytvis: the YouTube-VIS JSON")
    e.add_argument("--images", default=None, help="ytvis: folder the JSON's file_names are relative to")
    e.add_argument(
        "--out",
        default=None,
        help="davis: folder for PRED/<sequence>/<frame>.png; ytvis: results .json file, or a folder for results.json",
    )
    e.add_argument(
        "--class-head",
        default=None,
        help="ytvis: the model's class head (default: the one whose names match most categories)",
    )
    e.add_argument("--max-per-video", type=int, default=100, help="ytvis: best (track, class) entries per video")
    e.add_argument("--num-videos", type=int, default=50, help="synthetic: number of held-out videos")
    e.add_argument("--seed", type=int, default=1000, help="synthetic: held-out data seed (training used another)")
    e.add_argument("--frames", type=int, default=16, help="synthetic: frames per held-out video")
    e.add_argument("--synthetic", default=None, help="JSON overrides of the generator, e.g. '{\"max_objects\": 3}'")
    e.add_argument(
        "--prompts", choices=["mask", "box", "both"], default=None, help="default: both for synthetic, mask for davis"
    )
    e.add_argument("--no-progress", action="store_true")
    e.add_argument("--no-unprompted", action="store_true")
    e.add_argument(
        "--foreground-threshold",
        type=float,
        default=0.5,
        help="unprompted: objectness for a detection to start a track (session default 0.5)",
    )
    e.add_argument("--top-k", type=int, default=10, help="unprompted: most new tracks per frame")
    e.add_argument("--device", default="cpu")
    e.add_argument("--threads", type=int, default=2)
    e.add_argument("--json", default=None, help="also write the results here")
    e.set_defaults(func=cmd_eval)

    sc = sub.add_parser(
        "score",
        help="score predictions written by anyone: DAVIS PNGs (J&F with baselines) "
        "or a YouTube-VIS results JSON (video AP)",
    )
    sc.add_argument("--data", required=True, choices=["davis", "ytvis"])
    sc.add_argument("--root", default=None, help="davis: the DAVIS folder")
    sc.add_argument("--pred", default=None, help="davis: predictions, PRED/<sequence>/<frame>.png")
    sc.add_argument(
        "--split",
        default="val",
        help="davis: sequences from ImageSets/<year>/<split>.txt (all annotated sequences when the file is missing)",
    )
    sc.add_argument("--resolution", default="480p")
    sc.add_argument("--year", default="2017")
    sc.add_argument("--annotations", default=None, help="ytvis: the ground-truth JSON")
    sc.add_argument("--results", default=None, help="ytvis: the results JSON")
    sc.add_argument("--json", default=None, help="also write the scores here")
    sc.add_argument("--no-progress", action="store_true")
    sc.set_defaults(func=cmd_score)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)
