"""Small shared pieces for the training tests: a model and a training config tiny
enough that a step takes a fraction of a second on one CPU core."""

import numpy as np
import yaml

from ausm_train.data import VideoClip

# the `tiny` model shrunk further: same modules, fewer channels and layers
TEST_MODEL = {
    "input_size": [64, 64],
    "hidden_dim": 32,
    "num_heads": 2,
    "ffn_dim": 64,
    "mask_decoder_ffn_dim": 64,
    "compressor_layers": 1,
    "history_decoder_layers": 1,
    "mask_decoder_layers": 3,  # tiny.yaml; layer 0 reads G_t
    "num_ids": 8,
    "num_det_queries": 6,
    "backbone_args": {"channels": [16, 16, 32, 32], "blocks": [1, 1, 1, 1]},
    "ssm_args": {"d_state": 4, "d_conv": 4, "expand": 1, "chunk_size": 4},
}


def train_config(steps=4, **top):
    cfg = {
        "model": "tiny",
        "model_overrides": TEST_MODEL,
        "seed": 0,
        "threads": 1,
        "steps": steps,
        "log_every": 1,
        "ckpt_every": 1,
        "max_nonfinite": 3,
        "data": {
            "sources": [
                {
                    "kind": "synthetic",
                    "args": {
                        "num_videos": 64,
                        "seed": 0,
                        "config": {"height": 64, "width": 64, "num_frames": 3, "min_objects": 1, "max_objects": 3},
                    },
                }
            ],
            "clip_len": 2,
            "batch_size": 2,
            "num_workers": 0,
            "epoch_length": 64,
            "scale_range": [1.0, 1.0],
            "color_jitter": False,
        },
        # the demo recipe's extras, so resume and DDP tests cover them too
        "loss": {
            "num_points": 64,
            "match_points": 64,
            "id_rows_from": 3,
            "history_probe_weight": 1.0,
        },
        "optim": {"lr": 1e-3, "backbone_lr_mult": 1.0},
        "schedule": {"warmup_steps": 2},
    }
    cfg.update(top)
    return cfg


def write_config(path, cfg):
    path.write_text(yaml.safe_dump(cfg))
    return path


def square_clip(T=5, H=32, W=32, boxes=None, categories=None, dataset="synthetic"):
    """A clip with axis-aligned square instances. boxes[i][t] = (y0, x0, size) or None (absent)."""
    boxes = boxes or []
    masks = np.zeros((len(boxes), T, H, W), dtype=bool)
    for i, per_frame in enumerate(boxes):
        for t, b in enumerate(per_frame):
            if b is not None:
                y0, x0, s = b
                masks[i, t, y0 : y0 + s, x0 : x0 + s] = True
    cats = categories if categories is not None else [0] * len(boxes)
    rng = np.random.default_rng(0)
    return VideoClip(
        frames=rng.integers(0, 255, (T, H, W, 3), dtype=np.uint8),
        masks=masks,
        instance_ids=np.arange(1, len(boxes) + 1),
        category_ids=np.array(cats),
        dataset=dataset,
        video="squares",
        frame_names=[f"{t:05d}" for t in range(T)],
    )
