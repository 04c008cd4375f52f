"""Unprompted evaluation on any YouTube-VIS (or OVIS) folder: a JSON of videos (and,
for a split with ground truth, annotations) and the frames at IMAGES/<file_name>.

The model runs with discovery on and no prompts. Every track is submitted once per
class the model and the dataset share by name, scored mean(objectness x class
probability), best ``max_per_video`` of a video kept, in the YouTube-VIS results
format (``[{"video_id", "category_id", "score", "segmentations"}]``, compressed RLE,
null where absent), which any YouTube-VIS evaluator reads. With ground truth in the
JSON, video mask AP is computed from that file, and class-agnostic AP (one entry per
track, its mean objectness) beside it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping

from tqdm import tqdm

from ausm_eval.errors import CorruptSampleError, DatasetFormatError
from ausm_eval.io import read_rgb, write_json_atomic
from ausm_eval.metrics import (
    ClassMatch,
    class_agnostic_tracks,
    class_scored_tracks,
    evaluate_ytvis_json,
    match_classes,
    ytvis_result_entry,
)
from ausm_train.data.ytvis import YouTubeVISSource

from .inference import as_model, observe_unprompted


def results_path(out: str | os.PathLike) -> Path:
    """``out`` itself when it names a .json file, else OUT/results.json."""
    out = Path(out)
    return out if out.suffix.lower() == ".json" else out / "results.json"


def choose_class_head(model, dataset_names: list[str], class_head: str | None = None) -> tuple[str, ClassMatch]:
    """The class head whose stored class names match most dataset categories (or the
    one asked for), with its name match."""
    config = model.config
    heads = [class_head] if class_head else list(config.num_classes)
    unknown = [h for h in heads if h not in config.num_classes]
    if unknown:
        raise ValueError(f"class head {unknown[0]!r} is not in the checkpoint (heads: {sorted(config.num_classes)})")
    best = None
    for head in heads:
        match = match_classes(config.class_names.get(head, []), dataset_names)
        if best is None or len(match.to_dataset) > len(best[1].to_dataset):
            best = (head, match)
    return best


def _frames(image_root: Path, video: dict, height: int, width: int):
    """The video's frames in order; each must have the size the JSON gives the video,
    since the results' masks are encoded at that size."""
    for name in video.get("file_names") or []:
        try:
            frame = read_rgb(image_root / name)
        except CorruptSampleError as error:
            raise DatasetFormatError(f"video {video.get('id')}: {error}") from error
        if frame.shape[:2] != (height, width):
            raise DatasetFormatError(
                f"video {video.get('id')}: frame {image_root / name} is "
                f"{frame.shape[1]}x{frame.shape[0]}, the JSON says {width}x{height}"
            )
        yield frame


def _video_size(image_root: Path, video: dict) -> tuple[int, int]:
    """(height, width) from the JSON, else from the first frame."""
    if "height" in video and "width" in video:
        return int(video["height"]), int(video["width"])
    try:
        first = read_rgb(image_root / video["file_names"][0])
    except CorruptSampleError as error:
        raise DatasetFormatError(f"video {video.get('id')}: {error}") from error
    return first.shape[0], first.shape[1]


def evaluate_ytvis(
    model,
    annotations: str | os.PathLike,
    images: str | os.PathLike,
    out: str | os.PathLike,
    session_settings: Mapping | None = None,
    class_head: str | None = None,
    max_per_video: int = 100,
    progress: bool = True,
) -> dict:
    """Run ``model`` (or the checkpoint at that path) unprompted on every video of the
    JSON, write the results file and, when the JSON has annotations, score it. Returns
    {"results", "class_head", "class_match", "videos", "entries", "AP": summary or None,
    "AP_class_agnostic": ..., "table"}."""
    source = YouTubeVISSource(annotations, images)
    image_root = Path(images)
    categories = dict(zip(source.category_ids, source.class_names))
    head, match = choose_class_head(model, source.class_names, class_head)
    settings = dict(session_settings or {})
    settings["class_head"] = head
    # match_classes was given names in index order: map indices back to category ids
    match.to_dataset = {m: source.category_ids[d] for m, d in match.to_dataset.items()}
    model = as_model(model)
    model.eval()
    entries, agnostic = [], []
    for video in tqdm(source.videos, desc="unprompted", unit="video", disable=not progress):
        files = video.get("file_names") or []
        if not files:
            raise DatasetFormatError(f"{annotations}: video {video.get('id')} lists no file_names")
        t, (h, w) = len(files), _video_size(image_root, video)
        tracks = observe_unprompted(model, _frames(image_root, video, h, w), settings)
        for _, track in class_scored_tracks(tracks, match.to_dataset, max_per_video):
            entries.append(ytvis_result_entry(video["id"], track, t, h, w))
        for track in class_agnostic_tracks(tracks).values():
            agnostic.append(ytvis_result_entry(video["id"], track, t, h, w))
    path = write_json_atomic(results_path(out), entries)
    result = {
        "results": str(path),
        "class_head": head,
        "class_match": match.describe(),
        "videos": len(source.videos),
        "entries": len(entries),
        "AP": None,
        "AP_class_agnostic": None,
    }
    if source.has_annotations:
        gt = json.loads(Path(annotations).read_text(encoding="utf-8"))
        summary = evaluate_ytvis_json(gt, entries)
        summary["per_category_AP"] = {categories.get(c, str(c)): v for c, v in summary["per_category_AP"].items()}
        result["AP"] = summary
        agnostic_summary = evaluate_ytvis_json(gt, agnostic, class_agnostic=True)
        agnostic_summary.pop("per_category_AP", None)
        result["AP_class_agnostic"] = agnostic_summary
    result["table"] = format_ap_table(result, annotations)
    return result


def format_ap_table(result: dict, annotations: str | os.PathLike = "") -> str:
    lines = [
        f"video AP (YouTube-VIS) on {result['videos']} videos of {annotations}; results in {result['results']}",
        f"class head {result['class_head']!r}: {result['class_match']}",
    ]
    if result["AP"] is None:
        lines.append("the JSON has no annotations: results written, nothing to score")
        return "\n".join(lines)
    keys = ("AP", "AP50", "AP75", "AR1", "AR10")
    lines.append(f"{'':<16}" + "".join(f"{k:>8}" for k in keys))
    for name, summary in (("class-aware", result["AP"]), ("class-agnostic", result["AP_class_agnostic"])):
        lines.append(
            f"{name:<16}" + "".join(f"{100 * summary[k]:8.1f}" if summary[k] >= 0 else f"{'-':>8}" for k in keys)
        )
    per_category = result["AP"].get("per_category_AP") or {}
    if per_category:
        lines.append(
            "per category AP: "
            + ", ".join(f"{n} {100 * v:.1f}" if v >= 0 else f"{n} -" for n, v in per_category.items())
        )
    lines.append("in %; -1 / '-' where a category has no ground truth")
    return "\n".join(lines)
