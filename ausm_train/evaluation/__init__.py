"""Evaluation on folders in the official formats, as the official evaluators score:

  evaluate_davis(model, root, out)                    DAVIS 2017 semi-supervised J&F, palette PNGs
                                                      written to OUT/<sequence>/<frame>.png, static
                                                      and empty baselines beside the model
  evaluate_ytvis(model, annotations, images, out)     YouTube-VIS results JSON and video mask AP
  score_davis_folder(annotations, predictions)        J&F of PNGs written by anyone

Command line: ``python -m ausm_train eval --data davis|ytvis ...`` (see ausm_train/cli.py).
"""

from .davis import evaluate_davis
from .inference import first_appearances, observe_unprompted, predict_prompted
from .ytvis import evaluate_ytvis, results_path

__all__ = [
    "evaluate_davis",
    "evaluate_ytvis",
    "results_path",
    "first_appearances",
    "predict_prompted",
    "observe_unprompted",
]
