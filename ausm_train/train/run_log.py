"""Where a run writes what happened: a CSV of per-step numbers (the loss curve tests
and plots read), TensorBoard scalars, and a plain-text event log (skipped samples,
non-finite steps, resumes). Only rank 0 writes."""

from __future__ import annotations

import csv
import time
from pathlib import Path

CSV_FIELDS = [
    "step",
    "loss",
    "objectness",
    "class",
    "mask",
    "dice",
    "history_probe",
    "positives",
    "lr",
    "grad_norm",
    "sec_per_step",
    "skipped_nonfinite",
    "corrupt_samples",
]


class RunLog:
    def __init__(self, out_dir, enabled=True, resume_step=None, tensorboard=True):
        self.enabled = enabled
        self.out_dir = Path(out_dir)
        self.csv_path = self.out_dir / "train_log.csv"
        self.events_path = self.out_dir / "events.log"
        self.writer = None
        if not enabled:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.csv_path.exists():
            self._truncate_after(resume_step)
        elif self.csv_path.exists():
            self.csv_path.unlink()
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(
                    str(self.out_dir / "tensorboard"), purge_step=resume_step + 1 if resume_step is not None else None
                )
            except ImportError:  # tensorboard is optional; the CSV has the same numbers
                self.writer = None

    def _truncate_after(self, step):
        """A killed run may have logged steps past its last checkpoint; the resumed run
        logs them again, so drop them to keep one row per step."""
        with open(self.csv_path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
        self._write_rows(rows)

    def _write_rows(self, rows):
        tmp = self.csv_path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, CSV_FIELDS)
            w.writeheader()
            w.writerows(rows)
        tmp.replace(self.csv_path)

    def scalars(self, step, values):
        if not self.enabled:
            return
        new = not self.csv_path.exists()
        with open(self.csv_path, "a", newline="") as f:
            w = csv.DictWriter(f, CSV_FIELDS, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow({"step": step, **values})
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(f"train/{k}", v, step)

    def event(self, message):
        if not self.enabled:
            return
        with open(self.events_path, "a") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")

    def close(self):
        if self.writer is not None:
            self.writer.close()


def read_loss_curve(out_dir):
    """{step: loss} from a run's CSV."""
    with open(Path(out_dir) / "train_log.csv", newline="") as f:
        return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(f)}
