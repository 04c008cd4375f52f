"""Checkpoint round trip, key reporting, config checks, and the Swin ImageNet importer."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from ausm import build_model, load_config
from ausm.backbones import SwinTransformer
from ausm.checkpoint import (
    CheckpointError,
    import_swin_imagenet,
    load_checkpoint,
    read_checkpoint_config,
    save_checkpoint,
)


def test_round_trip_restores_every_tensor_and_the_config(tmp_path):
    torch.manual_seed(0)
    model = build_model("tiny", input_size=[64, 96]).eval()
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    assert json.loads((tmp_path / "m.json").read_text())["input_size"] == [64, 96]
    assert read_checkpoint_config(path).to_dict() == model.config.to_dict()
    loaded = load_checkpoint(path).eval()
    assert loaded.load_report.ok and loaded.load_report.loaded == len(model.state_dict())
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    x = torch.rand(1, 3, 64, 96)
    st = model.initial_state(1, (64, 96))
    args = (x, st, torch.zeros(1, 0, dtype=torch.long), torch.zeros(1, 0, 16, 24), torch.zeros(1, 0, dtype=torch.bool))
    with torch.no_grad():
        assert torch.equal(model.step(*args)[0]["mask_logits"], loaded.step(*args)[0]["mask_logits"])


def test_missing_unexpected_and_misshapen_keys_are_named(tmp_path):
    model = build_model("tiny", input_size=[64, 96])
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    sd = load_file(str(path))
    del sd["mask_decoder.objectness.bias"]
    sd["mask_decoder.extra_head.weight"] = torch.zeros(3)
    sd["id_buffer.vectors"] = torch.zeros(5, 64)
    meta = {"format": "ausm-checkpoint/1", "ausm_config": model.config.to_json()}
    save_file(sd, str(path), metadata=meta)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    msg = str(e.value)
    assert "missing: mask_decoder.objectness.bias" in msg
    assert "unexpected: mask_decoder.extra_head.weight" in msg
    assert "id_buffer.vectors: file (5, 64) vs model (16, 64)" in msg
    loose = load_checkpoint(path, strict=False)
    assert loose.load_report.missing == ["mask_decoder.objectness.bias"]
    assert not torch.equal(loose.id_buffer.vectors, torch.zeros(16, 64))  # not copied


def test_config_mismatch_is_refused_by_key(tmp_path):
    path = save_checkpoint(build_model("tiny", input_size=[64, 96]), tmp_path / "m.safetensors")
    with pytest.raises(CheckpointError, match=r"differing keys: \['input_size'\]"):
        load_checkpoint(path, config="tiny")
    assert load_checkpoint(path, config=load_config("tiny", input_size=[64, 96])) is not None


def official_swin_state_dict(embed_dim, depths, heads, window, num_classes=1000, seed=0):
    """A randomly initialised state dict laid out exactly as microsoft/Swin-Transformer's
    classification checkpoints (swin_*_patch4_window*.pth): names and shapes written out
    here from the release's layout, independently of our module code."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=g)
    sd = {
        "patch_embed.proj.weight": r(embed_dim, 3, 4, 4),
        "patch_embed.proj.bias": r(embed_dim),
        "patch_embed.norm.weight": r(embed_dim),
        "patch_embed.norm.bias": r(embed_dim),
    }
    n = window * window
    for i, (d, h) in enumerate(zip(depths, heads)):
        C = embed_dim * 2**i
        res = 56 // 2**i
        for j in range(d):
            p = f"layers.{i}.blocks.{j}."
            sd.update(
                {
                    p + "norm1.weight": r(C),
                    p + "norm1.bias": r(C),
                    p + "attn.relative_position_bias_table": r((2 * window - 1) ** 2, h),
                    p + "attn.relative_position_index": torch.randint(0, 169, (n, n), generator=g),
                    p + "attn.qkv.weight": r(3 * C, C),
                    p + "attn.qkv.bias": r(3 * C),
                    p + "attn.proj.weight": r(C, C),
                    p + "attn.proj.bias": r(C),
                    p + "norm2.weight": r(C),
                    p + "norm2.bias": r(C),
                    p + "mlp.fc1.weight": r(4 * C, C),
                    p + "mlp.fc1.bias": r(4 * C),
                    p + "mlp.fc2.weight": r(C, 4 * C),
                    p + "mlp.fc2.bias": r(C),
                }
            )
            if j % 2 == 1 and res > window:
                sd[p + "attn_mask"] = r((res // window) ** 2, n, n)
        if i < len(depths) - 1:
            sd.update(
                {
                    f"layers.{i}.downsample.reduction.weight": r(2 * C, 4 * C),
                    f"layers.{i}.downsample.norm.weight": r(4 * C),
                    f"layers.{i}.downsample.norm.bias": r(4 * C),
                }
            )
    C = embed_dim * 2 ** (len(depths) - 1)
    sd.update({"norm.weight": r(C), "norm.bias": r(C), "head.weight": r(num_classes, C), "head.bias": r(num_classes)})
    return sd


def test_swin_t_imagenet_import_maps_every_backbone_weight(tmp_path):
    official = official_swin_state_dict(96, [2, 2, 6, 2], [3, 6, 12, 24], 7)
    torch.save({"model": official, "epoch": 300}, tmp_path / "swin_tiny_patch4_window7_224.pth")
    model = build_model("swin_t", input_size=[64, 64])
    report = import_swin_imagenet(model, tmp_path / "swin_tiny_patch4_window7_224.pth")
    assert report.missing == [f"backbone.norm{i}.{p}" for i in range(4) for p in ("bias", "weight")]
    assert report.unexpected == [] and report.mismatched == []
    assert {"head.weight", "head.bias", "norm.weight", "norm.bias"} <= set(report.ignored)
    assert "layers.0.blocks.1.attn_mask" in report.ignored
    own = model.backbone.state_dict()
    copied = [k for k in official if k in own]
    assert len(copied) == report.loaded == len(own) - 8
    for k in copied:
        assert torch.equal(own[k], official[k]), k
    with torch.no_grad():  # and the imported backbone runs
        assert model.backbone(torch.rand(1, 3, 64, 64))[3].shape == (1, 768, 2, 2)


def test_swin_import_resizes_windows_and_takes_mask2former_prefixes(tmp_path):
    official = official_swin_state_dict(32, [1, 1, 2, 1], [1, 2, 4, 8], 7, seed=1)
    m2f = {"backbone." + k: v for k, v in official.items() if not k.startswith(("head", "norm."))}
    m2f.update({f"backbone.norm{i}.weight": torch.full((32 * 2**i,), 2.0) for i in range(4)})
    m2f.update({f"backbone.norm{i}.bias": torch.zeros(32 * 2**i) for i in range(4)})
    m2f["sem_seg_head.predictor.query_feat.weight"] = torch.zeros(100, 256)
    save_file({k: v.contiguous() for k, v in m2f.items()}, str(tmp_path / "m2f.safetensors"))
    backbone = SwinTransformer(32, [1, 1, 2, 1], [1, 2, 4, 8], window_size=12)
    report = import_swin_imagenet(backbone, tmp_path / "m2f.safetensors", strict=True)
    assert report.ok and report.missing == []
    assert "sem_seg_head.predictor.query_feat.weight" in report.ignored
    table = backbone.layers[0].blocks[0].attn.relative_position_bias_table
    assert table.shape == (23 * 23, 1)
    assert torch.equal(backbone.norm2.weight, torch.full((128,), 2.0))
    # the bicubic resize keeps the centre (zero offset) bias of a 13x13 table at the 23x23 centre
    src = official["layers.0.blocks.0.attn.relative_position_bias_table"].view(13, 13)
    assert abs(table.view(23, 23)[11, 11].item() - src[6, 6].item()) < 0.5 * src.abs().max().item()
