"""Scoring replays of the perception node, and the report.

One replay (its output bag) is scored against the input bag's ground truth, per sequence:

  prompted    DAVIS 2017 semi-supervised J&F (ausm_eval.metrics.JFWithBaselines): each ground-truth
              object is followed through the track id its prompt's acknowledgement names; the
              node's masks become one label per pixel (overlaps to the higher score, as the node's
              label image), and the static and empty baselines are scored on the same frames.
  unprompted  YouTube-VIS video mask AP (ausm_eval.metrics.VideoAPEvaluator), class-aware when
              the ground truth has classes, and class-agnostic; a track's score is its mean
              detection score, its class the one reported most often.

Both are computed on annotated frames; a frame the node never answered counts as an
empty prediction. Latency is send time to arrival of the frame's InstanceSegmentation;
dropped frames were sent but never answered. Node resets per sequence come from
/diagnostics and are set against the discontinuities in the bag's stamps that explain them.

``replay_and_score`` is what `ausm-bag-replay` does (replay each pass, score it, write the
report), ``score_offline`` what `ausm-bag-score` does; the report is one JSON file for
machines (``build_report``, ``write_report``) and one table per pass for people
(``report_table``, ``baselines_table``).
"""

import json
import math
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from ausm_eval.metrics import (
    GtTrack,
    JFWithBaselines,
    PredTrack,
    VideoAPEvaluator,
    format_jf_table,
    masks_to_labels,
)
from ausm_ros.bag import BagError, layout
from ausm_ros.bag.messages import category_of, decode_instances, reported_tracks
from ausm_ros.bag.reading import EvalBag, output_stamp, read_record
from ausm_ros.bag.replay import ReplayPass
from ausm_ros.bag.writing import remove_bag

DEFAULT_RESET_ON_GAP_SEC = 5.0


def _latency_stats(values_ns):
    if not values_ns:
        return None
    ms = np.asarray(values_ns, dtype=np.float64) / 1e6
    return {
        "count": int(ms.size),
        "mean": float(ms.mean()),
        "p50": float(np.percentile(ms, 50)),
        "p90": float(np.percentile(ms, 90)),
        "p99": float(np.percentile(ms, 99)),
        "max": float(ms.max()),
    }


def match_outputs(eval_bag, record):
    """frame index -> (receive_ns, msg, latency_ns); plus counts of duplicate and unmatched outputs.

    An output belongs to the latest frame sent with its stamp before it arrived, so a stamp
    that repeats (a bag loop) is still matched to the right frame."""
    matched, duplicates, unmatched = {}, 0, 0
    if record.published:
        sends, first_send = defaultdict(list), {}
        for p in record.published:
            sends[p.stamp_ns].append(p)
            first_send[p.frame] = min(first_send.get(p.frame, p.send_ns), p.send_ns)
        for receive_ns, msg in record.instances:
            candidates = [p for p in sends.get(output_stamp(msg), ()) if p.send_ns <= receive_ns]
            if not candidates:
                unmatched += 1
                continue
            send = max(candidates, key=lambda p: p.send_ns)
            if send.frame in matched:
                duplicates += 1
                continue
            matched[send.frame] = (receive_ns, msg, receive_ns - first_send[send.frame])
    else:
        first_frame = {}
        for f in eval_bag.frames:
            first_frame.setdefault(f.stamp_ns, f.index)
        for receive_ns, msg in record.instances:
            stamp = output_stamp(msg)
            if stamp not in first_frame:
                unmatched += 1
            elif first_frame[stamp] in matched:
                duplicates += 1
            else:
                matched[first_frame[stamp]] = (receive_ns, msg, receive_ns - stamp)
    return matched, duplicates, unmatched


def discontinuities(frames, reset_on_gap_sec):
    """Why the node would reset before each frame: [(frame, reason)] for consecutive sent frames."""
    out = []
    for prev, cur in zip(frames, frames[1:]):
        dt = (cur.stamp_ns - prev.stamp_ns) / 1e9
        if dt < 0:
            reason = f"time jump: stamp went back {-dt:.3f} s"
        elif cur.frame_id != prev.frame_id:
            reason = f"frame_id change: '{prev.frame_id}' -> '{cur.frame_id}'"
        elif cur.size != prev.size:
            reason = f"image size change: {prev.size[1]}x{prev.size[0]} -> {cur.size[1]}x{cur.size[0]}"
        elif 0 < reset_on_gap_sec < dt:
            reason = f"gap: no image for {dt:.3f} s"
        else:
            continue
        out.append((cur, reason))
    return out


def _diag_value(values, key, cast=int):
    try:
        return cast(values[key])
    except (KeyError, ValueError):
        return None


def node_resets_per_sequence(eval_bag, record, sent_frames):
    """Resets the node reported during each sequence: the `resets` counter of the last
    /diagnostics heard before the sequence's first frame went out, and before the next one's."""
    if not record.diagnostics or not record.published:
        return {}, None
    first_send = {}
    for p in sorted(record.published, key=lambda p: p.send_ns):
        seq = eval_bag.frames[p.frame].sequence
        first_send.setdefault(seq, p.send_ns)
    order = sorted(first_send, key=first_send.get)

    def counter_before(t):
        before = [(r, v) for r, v in record.diagnostics if t is None or r < t]
        return (_diag_value(before[-1][1], "resets"), before[-1][1].get("last_reset", "")) if before else (None, "")

    out = {}
    for k, seq in enumerate(order):
        start, _ = counter_before(first_send[seq])
        end, last_reason = counter_before(first_send[order[k + 1]] if k + 1 < len(order) else None)
        out[seq] = {"node": None if start is None or end is None else end - start, "last_reset": last_reason}
    final = record.diagnostics[-1][1]
    node_totals = {
        key: _diag_value(final, key)
        for key in ("resets", "dropped_frames", "frames_received", "frames_processed", "invalid_inputs")
    }
    return out, node_totals


class _Prompted:
    def __init__(self):
        self.overall = JFWithBaselines()

    def score(self, gt, frame_masks, ack_ids, frame_scores=None):
        """frame_masks: position -> {track id: mask}; ack_ids: label -> track id;
        frame_scores: position -> {track id: score}, which settles overlapping masks."""
        shape = (len(gt.annotated), gt.info.height, gt.info.width)
        pred, scores = {}, {}
        for label in gt.masks:
            track = ack_ids.get(label)
            seq = np.zeros(shape, dtype=bool)
            score = np.full(shape[0], -np.inf)
            if track is not None:
                for a, position in enumerate(gt.annotated):
                    mask = frame_masks.get(position, {}).get(track)
                    if mask is not None:
                        seq[a] = mask
                        score[a] = (frame_scores or {}).get(position, {}).get(track, 0.0)
            pred[label] = seq
            scores[label] = score
        gt_labels = masks_to_labels(gt.masks, shape)
        pred_labels = masks_to_labels(pred, shape, scores)
        per_sequence = JFWithBaselines()
        per_sequence.add_labels(gt.info.name, gt_labels, pred_labels, void_label=None)
        # keyed by position too: two sequences of a bag may share a name
        self.overall.add_labels(f"{gt.info.index}:{gt.info.name}", gt_labels, pred_labels, void_label=None)
        self.last_baselines = {row: ev.summary() for row, ev in per_sequence.evaluators.items() if row != "model"}
        return per_sequence.evaluators["model"].summary()

    def summary(self):
        return self.overall.evaluators["model"].summary()

    def baselines(self):
        """static / empty -> DAVIS summary over every scored sequence, on the model's frames."""
        return {row: ev.summary() for row, ev in self.overall.evaluators.items() if row != "model"}


class _Unprompted:
    def __init__(self):
        self.overall = VideoAPEvaluator(class_agnostic=False)
        self.overall_agnostic = VideoAPEvaluator(class_agnostic=True)
        self.has_classes = True

    def score(self, gt, frame_masks, frame_tracks):
        """frame_tracks: [(position, {track id: (class string, score)})] over every answered frame."""
        shape = (len(gt.annotated), gt.info.height, gt.info.width)
        categories = {o.label: o.category for o in gt.info.objects}
        gt_tracks = {label: GtTrack(categories.get(label, -1), masks) for label, masks in gt.masks.items()}
        classes, scores = defaultdict(list), defaultdict(list)
        for _, tracks in frame_tracks:
            for track, (class_string, score) in tracks.items():
                classes[track].append(category_of(class_string, gt.info.class_names))
                scores[track].append(score)
        annotated = {p: a for a, p in enumerate(gt.annotated)}
        pred = {}
        for track in classes:
            masks = {annotated[p]: m[track] for p, m in frame_masks.items() if p in annotated and track in m}
            pred[track] = PredTrack(Counter(classes[track]).most_common(1)[0][0], float(np.mean(scores[track])), masks)
        class_aware = bool(gt.info.class_names) and all(c >= 0 for c in categories.values())
        self.has_classes &= class_aware
        result = {"tracks": len(pred)}
        for agnostic in (False, True) if class_aware else (True,):
            evaluator = VideoAPEvaluator(class_agnostic=agnostic)
            evaluator.add_video(gt_tracks, pred, shape)
            result.update(_ap_fields(evaluator.summary(), agnostic))
        self.overall.add_video(gt_tracks, pred, shape)
        self.overall_agnostic.add_video(gt_tracks, pred, shape)
        return result

    def summary(self):
        out = _ap_fields(self.overall_agnostic.summary(), True)
        if self.has_classes:
            out.update(_ap_fields(self.overall.summary(), False))
        return out


def _ap_fields(summary, agnostic):
    suffix = "_class_agnostic" if agnostic else ""
    return {
        f"{k}{suffix}": float(v) for k, v in summary.items() if k.startswith(("AP", "AR")) and k != "per_category_AP"
    }


def _prompt_outcomes(eval_bag, record, sequence):
    """label -> track id from the acks of this sequence's prompts, and the prompt counts."""
    prompts = {p.prompt_id: p for p in eval_bag.prompts if p.sequence == sequence}
    sent = {int(m.prompt_id) for _, m in record.sent_prompts} if record.sent_prompts else set(prompts)
    acks = {}
    for _, ack in record.acks:
        acks.setdefault(int(ack.prompt_id), ack)
    ids, counts, rejections = {}, Counter(), []
    for prompt_id, prompt in prompts.items():
        if prompt_id not in sent:
            continue
        counts["sent"] += 1
        ack = acks.get(prompt_id)
        if ack is None:
            counts["unacknowledged"] += 1
            continue
        status = {0: "applied", 1: "applied_late", 2: "rejected"}.get(int(ack.status), "unknown")
        counts[status] += 1
        if status == "rejected":
            rejections.append(f"object {prompt.object_id}: {ack.message}")
        else:
            ids[prompt.object_id] = int(ack.object_id)
    return ids, dict(counts), rejections


def score_replay(eval_bag, record, task=None, progress=None):
    """The report of one pass: per-sequence rows and the overall numbers."""
    task = task or record.task or ("prompted" if record.acks else "unprompted")
    params = (record.info or {}).get("node_parameters") or {}
    gap = float(params.get("reset_on_gap_sec", DEFAULT_RESET_ON_GAP_SEC))
    matched, duplicates, unmatched = match_outputs(eval_bag, record)
    sent_frames = (
        sorted({p.frame for p in record.published}) if record.published else [f.index for f in eval_bag.frames]
    )
    sent_set = set(sent_frames)
    resets, node_totals = node_resets_per_sequence(eval_bag, record, sent_frames)
    explained = defaultdict(list)
    for frame, reason in discontinuities([eval_bag.frames[i] for i in sent_frames], gap):
        explained[frame.sequence].append(
            {"frame": frame.position, "reason": reason, "at_sequence_start": frame.position == 0}
        )
    scorer = _Prompted() if task == "prompted" else _Unprompted()
    # One sequence's label images in memory at a time, in the bag's sequence order.
    gts = eval_bag.ground_truth(progress) if eval_bag.label_topic else iter(())
    scored_any = False
    rows, warnings, all_latency = [], [], []
    if task == "prompted" and params.get("discovery") is True:
        warnings.append(
            "the node ran with discovery on: objects it found itself may take the prompted ones' "
            "pixels, so this J&F is not comparable with a prompted-only evaluation (ausm_train's)"
        )
    for info in eval_bag.sequences:
        frames = eval_bag.sequence_frames(info.index)
        sent = [f for f in frames if f.index in sent_set]
        answered = [f for f in sent if f.index in matched]
        latency = [matched[f.index][2] for f in answered]
        all_latency += latency
        row = {
            "name": info.name,
            "dataset": info.dataset,
            "frames": len(frames),
            "sent": len(sent),
            "outputs": len(answered),
            "dropped": len(sent) - len(answered),
            "latency_ms": _latency_stats(latency),
        }
        reasons = explained.get(info.index, [])
        inside = [r for r in reasons if not r["at_sequence_start"]]
        row["resets"] = {
            "node": resets.get(info.index, {}).get("node"),
            "expected_at_start": len(reasons) - len(inside),
            "inside_sequence": inside,
            "node_last_reset": resets.get(info.index, {}).get("last_reset", ""),
        }
        if inside:
            warnings.append(
                f"sequence {info.name}: the stream resets inside the sequence ("
                + "; ".join(f"frame {r['frame']}: {r['reason']}" for r in inside)
                + "); tracks and prompted objects start over there"
            )
        node_count = row["resets"]["node"]
        if node_count is not None and node_count != len(reasons):
            warnings.append(
                f"sequence {info.name}: the node reported {node_count} resets, the stamps explain "
                f"{len(reasons)} (last reset: {row['resets']['node_last_reset'] or 'none'})"
            )
        gt = next(gts, None) if eval_bag.label_topic else None
        row["metrics"] = None
        if gt is not None and gt.annotated:
            scored_any = True
            # Masks only where there is ground truth to hold them against; ids, classes and
            # scores (a track's class vote and mean score) from every frame.
            annotated = set(gt.annotated)
            frame_masks, frame_tracks = {}, []
            for f in answered:
                msg = matched[f.index][1]
                frame_tracks.append((f.position, reported_tracks(msg)))
                if f.position in annotated:
                    decoded = decode_instances(msg)
                    frame_masks[f.position] = {int(t): m for t, m in zip(decoded.track_ids, decoded.masks)}
            if task == "prompted":
                ids, counts, rejections = _prompt_outcomes(eval_bag, record, info.index)
                row["prompts"] = dict(counts, rejections=rejections)
                if rejections:
                    warnings.append(f"sequence {info.name}: prompts rejected: " + "; ".join(rejections))
                if counts.get("applied_late"):
                    warnings.append(
                        f"sequence {info.name}: {counts['applied_late']} prompts were applied to a "
                        "later frame than their own"
                    )
                frame_scores = {
                    position: {t: score for t, (_, score) in tracks.items()} for position, tracks in frame_tracks
                }
                row["metrics"] = scorer.score(gt, frame_masks, ids, frame_scores)
                row["baselines"] = scorer.last_baselines
            else:
                row["metrics"] = scorer.score(gt, frame_masks, frame_tracks)
        rows.append(row)
    overall = {
        "frames": len(eval_bag.frames),
        "sent": len(sent_set),
        "outputs": len(matched),
        "dropped": len(sent_set) - len(matched),
        "duplicate_outputs": duplicates,
        "unmatched_outputs": unmatched,
        "latency_ms": _latency_stats(all_latency),
        "latency_measured_from": "send time" if record.published else "header stamp",
        "node": node_totals,
        "metrics": scorer.summary() if scored_any else None,
    }
    if task == "prompted":
        overall["baselines"] = scorer.baselines() if scored_any else None
    return {
        "task": task,
        "output_bag": record.path,
        "input_bag": str(eval_bag.path),
        "mode": (record.info or {}).get("mode"),
        "node_parameters": params,
        "sequences": rows,
        "overall": overall,
        "warnings": warnings,
    }


# --------------------------------------------------------------------------------------------------
# Replay a bag (one pass per task), score each pass, write the report: what `ausm-bag-replay` does.


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
            log(report_table(passes[name]))
        result = build_report(passes, Path(bag_path).resolve())
    return result, write_report(result, out_dir / "report.json")


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
            log(report_table(scored))
    return build_report(passes, Path(bag_path).resolve())


# --------------------------------------------------------------------------------------------------
# The evaluation report: one JSON file for machines, one table per pass for people.

REPORT_FORMAT = "ausm-bag-report/1"

_METRIC_COLUMNS = {
    # every J&F beside its baselines on the same frames (ausm_eval.metrics.baselines)
    "prompted": (
        ("J&F", "J&F-Mean"),
        ("J", "J-Mean"),
        ("F", "F-Mean"),
        ("static", "static J&F"),
        ("empty", "empty J&F"),
    ),
    "unprompted": (("AP", "AP"), ("AP50", "AP50"), ("AP agn", "AP_class_agnostic")),
}


_HEADLINE = {
    "prompted": ("J&F-Mean", "J-Mean", "F-Mean"),
    "unprompted": ("AP", "AP50", "AP_class_agnostic", "AP50_class_agnostic"),
}


def headline(passes):
    """The few numbers a person asks for first, per pass."""
    out = {}
    for name, scored in passes.items():
        overall = scored["overall"]
        metrics = overall.get("metrics") or {}
        line = {k: metrics[k] for k in _HEADLINE.get(scored["task"], ()) if k in metrics}
        line.update(
            frames=overall["frames"],
            dropped=overall["dropped"],
            resets=sum(r["resets"]["node"] or 0 for r in scored["sequences"]),
        )
        if overall.get("latency_ms"):
            line.update(latency_ms_p50=overall["latency_ms"]["p50"], latency_ms_p99=overall["latency_ms"]["p99"])
        out[name] = line
    return out


def build_report(passes, input_bag):
    return {"format": REPORT_FORMAT, "input_bag": str(input_bag), "headline": headline(passes), "passes": passes}


def _plain(value):
    """JSON has no NaN (a metric over no objects) and no numpy scalars."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_report(report, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_plain(report), indent=2, sort_keys=True, allow_nan=False) + "\n")
    return path


def _number(value, scale=1.0, digits=1):
    if value is None or (isinstance(value, float) and (math.isnan(value) or value < 0)):
        return "-"
    return f"{value * scale:.{digits}f}"


def _resets(r):
    node = r["resets"]["node"] if "resets" in r else None
    expected = r["resets"]["expected_at_start"] + len(r["resets"]["inside_sequence"]) if "resets" in r else 0
    return f"{'?' if node is None else node}/{expected}"


def _with_baselines(metrics, baselines):
    """The metrics plus 'static J&F' and 'empty J&F' (summaries or plain numbers)."""
    out = dict(metrics or {})
    for row, value in (baselines or {}).items():
        out[f"{row} J&F"] = value.get("J&F-Mean") if isinstance(value, dict) else value
    return out


def report_table(pass_report):
    """Per-sequence rows and an 'all' row: counts, resets (node/explained), metrics in %, latency in ms."""
    task = pass_report["task"]
    metric_columns = _METRIC_COLUMNS[task]
    header = ["sequence", "frames", "out", "drop", "resets"] + [c for c, _ in metric_columns] + ["lat p50", "lat p99"]
    rows = []
    for r in pass_report["sequences"]:
        metrics = _with_baselines(r.get("metrics"), r.get("baselines"))
        latency = r.get("latency_ms") or {}
        rows.append(
            [r["name"], str(r["frames"]), str(r["outputs"]), str(r["dropped"]), _resets(r)]
            + [_number(metrics.get(key), 100) for _, key in metric_columns]
            + [_number(latency.get("p50")), _number(latency.get("p99"))]
        )
    overall = pass_report["overall"]
    metrics = _with_baselines(overall.get("metrics"), overall.get("baselines"))
    latency = overall.get("latency_ms") or {}
    node_resets = [r["resets"]["node"] for r in pass_report["sequences"]]
    explained = sum(
        r["resets"]["expected_at_start"] + len(r["resets"]["inside_sequence"]) for r in pass_report["sequences"]
    )
    total_resets = "?" if any(n is None for n in node_resets) else str(sum(node_resets))
    rows.append(
        ["all", str(overall["frames"]), str(overall["outputs"]), str(overall["dropped"]), f"{total_resets}/{explained}"]
        + [_number(metrics.get(key), 100) for _, key in metric_columns]
        + [_number(latency.get("p50")), _number(latency.get("p99"))]
    )
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]

    def line(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    title = f"{task} pass ({pass_report.get('mode') or 'recorded'}): {pass_report['output_bag']}"
    out = [title, line(header), line(["-" * w for w in widths])] + [line(r) for r in rows[:-1]]
    out += [line(["-" * w for w in widths]), line(rows[-1])]
    out.append(
        "resets: reported by the node / explained by the bag's stamps; metrics in %; latency in ms "
        f"from {overall.get('latency_measured_from', 'send time')} to output"
    )
    if task == "prompted":
        out.append("static / empty: J&F of the first-appearance masks held still / of no masks, same frames")
    out += [f"warning: {w}" for w in pass_report.get("warnings", [])]
    return "\n".join(out)


def baselines_table(pass_report):
    """A prompted pass's J&F beside the static and empty baselines on the same frames (the
    `--baselines` table); None for a pass without them (unprompted, or nothing scored)."""
    overall = pass_report["overall"]
    if pass_report["task"] != "prompted" or not overall.get("metrics") or not overall.get("baselines"):
        return None
    summary = {"model": overall["metrics"], **overall["baselines"]}
    per_video = {}
    for r in pass_report["sequences"]:
        if r.get("metrics") and r.get("baselines"):
            per_video[r["name"]] = {
                "model": r["metrics"].get("J&F-Mean"),
                **{k: v.get("J&F-Mean") for k, v in r["baselines"].items()},
            }
    return format_jf_table(summary, per_video, title=f"prompted pass J&F and baselines: {pass_report['output_bag']}")
