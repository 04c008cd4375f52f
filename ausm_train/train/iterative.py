"""The iterative baseline: the same model and the same teacher-forced history, but run
frame by frame through the streaming path (``AUSM.step``) with gradients, the way a
recurrent model is trained without a parallel form. Used for the speed comparison
(bench/train_speed.py) and as ``mode: iterative`` in the trainer."""

import torch


def forward_iterative(model, frames, history):
    """frames [B, T, 3, H, W]; history: ausm.History. Returns the dict ``forward_clip``
    returns (layers first, then B, T), so the same losses apply."""
    B, T = frames.shape[:2]
    h, w = model.feature_size(frames.shape[-2:])
    # built here rather than with initial_state(), which detaches the start token
    state = [model.marker.start(B, h, w)] + model.compressor.initial_state(B * h * w, frames.device)
    per_frame = []
    for t in range(T):
        layers, state = model.step(
            frames[:, t], state, history.id_slots[:, t], history.id_masks[:, t], history.id_valid[:, t], all_layers=True
        )
        per_frame.append(layers)
    stack = lambda get: torch.stack([torch.stack([get(o) for o in layers]) for layers in per_frame], dim=2)
    heads = per_frame[0][0]["class_logits"].keys()
    return {
        "mask_logits": stack(lambda o: o["mask_logits"]),
        "class_logits": {k: stack(lambda o, k=k: o["class_logits"][k]) for k in heads},
        "objectness_logits": stack(lambda o: o["objectness_logits"]),
    }
