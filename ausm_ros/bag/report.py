"""The evaluation report: one JSON file for machines, one table per pass for people."""

import json
import math
from pathlib import Path

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


def build(passes, input_bag):
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


def write_json(report, path):
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


def table(pass_report):
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
    from ausm_eval.metrics import format_jf_table

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
