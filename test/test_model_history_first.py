"""The mask decoder reads the history G_t in its first layer (the only order there is),
tracked ID rows start from their history masks, and the config checks it is ever read;
plus class_names in the config; checkpoints saved while the order was a switch load when
it was on (the shipped demo checkpoint) and are refused when it was off."""

import pytest
import torch
from helpers.model import SMALL

from ausm.checkpoint import load_checkpoint, read_checkpoint_config, save_checkpoint
from ausm.config import ModelConfig, load_config
from ausm.model import AUSM
from ausm.modules.id_buffer import IDBuffer
from ausm.modules.mask_decoder import MaskDecoder


def test_no_decoder_order_switch_is_left():
    for cfg in (ModelConfig(), *(load_config(name) for name in ("tiny", "swin_t", "swin_b"))):
        assert "mask_decoder_history_first" not in cfg.to_dict()


def test_too_few_layers_to_read_history_are_rejected():
    ModelConfig(mask_decoder_layers=1)  # layer 0 reads G_t
    with pytest.raises(ValueError, match="never reads the history"):
        ModelConfig(mask_decoder_layers=0)


def test_class_names_validated():
    cfg = ModelConfig(num_classes={"synthetic": 3}, class_names={"synthetic": ["a", "b"]})
    assert cfg.class_names == {"synthetic": ["a", "b"]} and ModelConfig().class_names == {}
    with pytest.raises(ValueError):
        ModelConfig(num_classes={"synthetic": 1}, class_names={"synthetic": ["a", "b"]})
    with pytest.raises(ValueError):
        ModelConfig(num_classes={"synthetic": 3}, class_names={"coco": ["a"]})


def test_id_vectors_drawn_at_unit_scale():
    torch.manual_seed(0)
    assert 0.8 < float(IDBuffer(64, 64).vectors.detach().std()) < 1.2


def test_history_attention_seeds_id_rows():
    masks = torch.zeros(1, 2, 8, 8)
    masks[0, 0, 0:2, 0:2] = 1.0  # one cell at 1/8 (4x4)
    attend = MaskDecoder.history_attention(masks, (4, 4)).view(1, 2, 4, 4)
    assert attend[0, 0, :2, :2].all() and not attend[0, 0, 2:, :].any()  # dilated by one cell
    assert attend[0, 1].all()  # empty history: everywhere


def test_first_layer_of_id_rows_depends_on_history_mask():
    torch.manual_seed(0)
    model = AUSM(load_config("tiny", **SMALL)).eval()
    frame = torch.rand(1, 3, 64, 64)
    state = model.initial_state(1, (64, 64))
    slots, valid = torch.tensor([[0]]), torch.tensor([[True]])
    a = torch.zeros(1, 1, 16, 16)
    a[..., :6, :6] = 1
    b = torch.zeros(1, 1, 16, 16)
    b[..., 10:, 10:] = 1
    with torch.no_grad():
        oa, _ = model.step(frame, state, slots, a, valid, all_layers=True)
        ob, _ = model.step(frame, state, slots, b, valid, all_layers=True)
    # prediction 1 (after layer 0) of the ID row already differs with its history
    assert not torch.allclose(oa[1]["mask_logits"][:, 0], ob[1]["mask_logits"][:, 0])


def stored_config_as(path, edit):
    """Rewrite a checkpoint's stored config with ``edit(dict)``, as an older version wrote it."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    d = json.loads(meta["ausm_config"])
    edit(d)
    meta["ausm_config"] = json.dumps(d)
    save_file(tensors, str(path), metadata=meta)


def test_checkpoints_from_when_the_order_was_a_switch(tmp_path):
    torch.manual_seed(0)
    model = AUSM(load_config("tiny", **SMALL))
    path = save_checkpoint(model, tmp_path / "old.safetensors")
    # saved with the switch on (the shipped demo checkpoint), before class names existed: loads
    stored_config_as(path, lambda d: (d.pop("class_names"), d.update(mask_decoder_history_first=True)))
    cfg2 = read_checkpoint_config(path)
    assert cfg2.class_names == {} and cfg2.to_dict() == {**model.config.to_dict(), "class_names": {}}
    loaded = load_checkpoint(path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    # saved with the switch off: that decoder is not built any more, and the error says so
    stored_config_as(path, lambda d: d.update(mask_decoder_history_first=False))
    with pytest.raises(ValueError, match="no longer builds"):
        load_checkpoint(path)


def test_shipped_checkpoint_reads_history_first():
    import json
    from pathlib import Path

    from safetensors import safe_open

    import ausm

    with safe_open(str(Path(ausm.__file__).parent / "checkpoints" / "demo_tiny.safetensors"), "pt") as f:
        stored = json.loads(f.metadata()["ausm_config"])
    assert stored.get("mask_decoder_history_first", True)
