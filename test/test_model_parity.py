"""The two execution paths of AUSM over the same weights: parallel (training) vs streaming."""

import pytest
import torch

from ausm import AUSM, History, build_model, load_config

T = 16


def clip_and_history(model, B=1, T=T, K=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    H, W = model.config.input_size
    frames = torch.rand(B, T, 3, H, W, generator=g)
    slots = torch.randint(0, model.config.num_ids, (B, T, K), generator=g)
    valid = torch.rand(B, T, K, generator=g) > 0.3
    valid[:, 0] = False  # nothing tracked before the first frame ...
    valid[:, 0, 0] = True  # ... except one prompted object
    masks = (torch.rand(B, T, K, H // 4, W // 4, generator=g) > 0.7).float()
    return frames, History(slots, masks, valid)


def stream(model, frames, hist, state=None):
    B, T = frames.shape[:2]
    state = state or model.initial_state(B, frames.shape[-2:])
    outs = []
    for t in range(T):
        o, state = model.step(
            frames[:, t], state, hist.id_slots[:, t], hist.id_masks[:, t], hist.id_valid[:, t], all_layers=True
        )
        outs.append(o)
    return outs, state


def max_diff(par, outs):
    worst = 0.0
    for t, per_layer in enumerate(outs):
        for l, o in enumerate(per_layer):
            worst = max(
                worst,
                (o["mask_logits"] - par["mask_logits"][l, :, t]).abs().max().item(),
                (o["objectness_logits"] - par["objectness_logits"][l, :, t]).abs().max().item(),
            )
            for k, v in o["class_logits"].items():
                worst = max(worst, (v - par["class_logits"][k][l, :, t]).abs().max().item())
    return worst


@pytest.mark.parametrize("ssm", ["mamba1", "mamba2"])
def test_parallel_and_streaming_agree_on_every_frame(ssm):
    overrides = (
        {}
        if ssm == "mamba1"
        else {"ssm": "mamba2", "ssm_args": {"d_state": 8, "headdim": 32, "expand": 2, "chunk_size": 4}}
    )
    torch.manual_seed(0)
    model = build_model("tiny", **overrides).eval()
    frames, hist = clip_and_history(model)
    with torch.no_grad():
        par = model.forward_clip(frames, hist)
        outs, _ = stream(model, frames, hist)
    L = model.config.mask_decoder_layers + 1
    assert par["mask_logits"].shape[:4] == (L, 1, T, 4 + model.config.num_det_queries)
    assert len(outs) == T and len(outs[0]) == L
    assert max_diff(par, outs) <= 1e-4
    # the history matters: the same frames with no marks give different outputs
    with torch.no_grad():
        bare = model.forward_clip(frames, History(hist.id_slots, hist.id_masks * 0, hist.id_valid))
    assert (bare["mask_logits"][-1, :, 1:] - par["mask_logits"][-1, :, 1:]).abs().max() > 1e-3


def test_clip_split_in_two_with_carried_state_equals_whole_clip():
    torch.manual_seed(1)
    model = build_model("tiny", input_size=[64, 96]).eval()
    frames, hist = clip_and_history(model, B=2, T=8, seed=3)
    cut = lambda h, a, b: History(h.id_slots[:, a:b], h.id_masks[:, a:b], h.id_valid[:, a:b])
    with torch.no_grad():
        whole, s_whole = model.forward_clip(frames, hist, return_state=True)
        first, s = model.forward_clip(frames[:, :3], cut(hist, 0, 3), return_state=True)
        second, s = model.forward_clip(frames[:, 3:], cut(hist, 3, 8), state=s, return_state=True)
    both = torch.cat([first["mask_logits"], second["mask_logits"]], dim=2)
    assert (both - whole["mask_logits"]).abs().max() <= 1e-4
    assert all((a - b).abs().max() <= 1e-4 for a, b in zip(s, s_whole))


def test_padded_id_rows_do_not_change_real_outputs():
    torch.manual_seed(2)
    model = build_model("tiny", input_size=[64, 96]).eval()
    frames, hist = clip_and_history(model, T=3, K=2, seed=4)
    hist.id_valid[:] = True
    B, T_, K = hist.id_slots.shape
    junk_masks = torch.rand(B, T_, 3, *hist.id_masks.shape[-2:])
    pad = History(
        torch.cat([hist.id_slots, torch.tensor([5, -1, 7]).expand(B, T_, 3)], -1),
        torch.cat([hist.id_masks, junk_masks], 2),
        torch.cat([hist.id_valid, torch.zeros(B, T_, 3, dtype=torch.bool)], -1),
    )
    with torch.no_grad():
        a = model.forward_clip(frames, hist)
        b = model.forward_clip(frames, pad)
    assert (a["mask_logits"][:, :, :, :K] - b["mask_logits"][:, :, :, :K]).abs().max() <= 1e-5
    assert (a["mask_logits"][:, :, :, K:] - b["mask_logits"][:, :, :, K + 3 :]).abs().max() <= 1e-5


def test_training_path_backpropagates_into_every_module():
    torch.manual_seed(3)
    model = build_model("tiny", input_size=[64, 96]).train()
    frames, hist = clip_and_history(model, B=2, T=3, seed=5)
    out = model.forward_clip(frames, hist)
    loss = (
        out["mask_logits"].sigmoid().mean()
        + out["objectness_logits"].mean()
        + sum(v.logsumexp(-1).mean() for v in out["class_logits"].values())
    )
    loss.backward()
    for name in ("backbone", "pixel_decoder", "marker", "compressor", "history_decoder", "id_buffer", "mask_decoder"):
        grads = [p.grad for p in getattr(model, name).parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), name
    assert model.compressor.layers[0].ssm.A_log.grad.abs().sum() > 0


def test_swin_backbone_model_streams_like_it_trains():
    torch.manual_seed(4)
    cfg = load_config(
        "swin_t",
        input_size=[64, 96],
        hidden_dim=32,
        num_heads=4,
        ffn_dim=64,
        mask_decoder_ffn_dim=64,
        compressor_layers=1,
        history_decoder_layers=1,
        mask_decoder_layers=3,
        num_ids=4,
        num_det_queries=4,
        pixel_decoder_layers=1,
        backbone_args={
            "embed_dim": 24,
            "depths": [1, 1, 2, 1],
            "num_heads": [1, 2, 3, 4],
            "window_size": 7,
            "drop_path_rate": 0.0,
        },
    )
    model = AUSM(cfg).eval()
    frames, hist = clip_and_history(model, T=4, K=2, seed=6)
    with torch.no_grad():
        par = model.forward_clip(frames, hist)
        outs, _ = stream(model, frames, hist)
    assert max_diff(par, outs) <= 1e-4


def test_named_configs_come_from_files():
    tiny, swin_t, swin_b = load_config("tiny"), load_config("swin_t"), load_config("swin_b")
    for c in (swin_t, swin_b):
        assert (
            c.hidden_dim,
            c.compressor_layers,
            c.history_decoder_layers,
            c.mask_decoder_layers,
            c.num_ids,
            c.num_det_queries,
        ) == (256, 6, 6, 9, 100, 100)
    assert swin_b.backbone_args["embed_dim"] == 128 and swin_t.backbone_args["embed_dim"] == 96
    assert tiny.hidden_dim == 64 and tiny.ssm in ("mamba1", "mamba2")
    with pytest.raises(ValueError, match="unknown model config keys"):
        load_config("tiny", hiden_dim=3)
    with pytest.raises(ValueError, match="unknown config"):
        load_config("no_such_config")


def test_state_shapes_and_bytes():
    model = build_model("tiny")
    hw = tuple(model.config.input_size)
    state = model.initial_state(1, hw)
    assert [tuple(t.shape) for t in state] == [tuple(s) for s in model.state_shapes(1, hw)]
    assert len(state) == len(model.state_names()) == 1 + 2 * model.config.compressor_layers
    assert model.state_bytes(1, hw) == sum(t.numel() * 4 for t in state)
    assert all(t.dtype == torch.float32 for t in state)
