"""Replay a bag (one pass per task), score each pass, write the report: what `ausm-bag-replay` does."""

from pathlib import Path

from ausm_ros.bag import layout
from ausm_ros.bag import report as report_io
from ausm_ros.bag.bag_writer import remove_bag
from ausm_ros.bag.errors import BagError
from ausm_ros.bag.eval_bag import EvalBag
from ausm_ros.bag.replay import ReplayPass
from ausm_ros.bag.replay_record import read_record
from ausm_ros.bag.scoring import score_replay


def tasks_for(eval_bag, wanted):
    """'both' means: prompted when the bag has prompts, unprompted always."""
    if wanted == "prompted" and not eval_bag.prompts:
        raise BagError(
            f"{eval_bag.path}: a prompted pass needs ground-truth prompts and this bag has none "
            f"(no messages on {layout.GT_PROMPTS}); use --task unprompted"
        )
    if wanted != "both":
        return [wanted]
    return (["prompted"] if eval_bag.prompts else []) + ["unprompted"]


def replay_and_score(
    bag_path,
    out_dir,
    task="both",
    options=None,
    node_options=None,
    image_topic=None,
    overwrite=False,
    progress=None,
    log=print,
    env=None,
):
    """Returns (report dict, report path). Output bags go to OUT/<task>/, node logs beside them."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with EvalBag(bag_path, image_topic) as eval_bag:
        eval_bag.index(progress)
        passes = {}
        for name in tasks_for(eval_bag, task):
            out_bag = out_dir / name
            if overwrite:
                remove_bag(out_bag)
            ReplayPass(eval_bag, name, out_bag, options, node_options, progress, log, env).run()
            record = read_record(out_bag, progress=progress)
            passes[name] = score_replay(eval_bag, record, name, progress)
            log(report_io.table(passes[name]))
        result = report_io.build(passes, Path(bag_path).resolve())
    return result, report_io.write_json(result, out_dir / "report.json")


def score_offline(
    bag_path,
    output_bags,
    task=None,
    image_topic=None,
    stream=None,
    namespace=None,
    node_name=None,
    progress=None,
    log=print,
):
    """Score recorded output bags against an input bag's ground truth."""
    passes = {}
    with EvalBag(bag_path, image_topic) as eval_bag:
        eval_bag.index(progress)
        for path in output_bags:
            record = read_record(path, stream, namespace, node_name, progress)
            scored = score_replay(eval_bag, record, task, progress)
            key = scored["task"] if scored["task"] not in passes else f"{scored['task']}:{path}"
            passes[key] = scored
            log(report_io.table(scored))
    return report_io.build(passes, Path(bag_path).resolve())
