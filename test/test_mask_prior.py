"""The mask prior: an ID row's mask logits start from its history mask, scaled by a gain
the row predicts; rows without a history mask (absent objects) and detection rows get none;
checkpoints saved before the prior existed load with a zero gain, unchanged."""

import torch
from helpers.model import SMALL
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ausm.checkpoint import load_checkpoint, save_checkpoint
from ausm.config import ModelConfig
from ausm.model import AUSM, History
from ausm.modules.mask_decoder import PRIOR_KEYS


def _model(gain):
    torch.manual_seed(0)
    model = AUSM(ModelConfig(**SMALL)).eval()
    with torch.no_grad():
        model.mask_decoder.prior_gain.bias.fill_(gain)
    return model


def _history():
    masks = torch.zeros(1, 1, 2, 16, 16)
    masks[0, 0, 0, 4:10, 3:9] = 1.0  # row 0 has a mask; row 1 (valid, absent) has none
    return History(torch.tensor([[[0, 2]]]), masks, torch.ones(1, 1, 2, dtype=torch.bool)), masks[0, 0, 0]


@torch.no_grad()
def test_prior_adds_gain_times_the_history_mask_to_id_rows_only():
    frames = torch.rand(1, 1, 3, 64, 64)
    history, mask = _history()
    off = _model(0.0)(frames, history)["mask_logits"][0, 0, 0]  # before the first decoder layer
    on = _model(3.0)(frames, history)["mask_logits"][0, 0, 0]
    torch.testing.assert_close(on[0] - off[0], 3.0 * (2 * mask - 1))
    torch.testing.assert_close(on[1:], off[1:])  # absent ID row and detection rows: no prior
    # in the final layer the row with the prior lies on its history mask
    final = _model(3.0)(frames, history)["mask_logits"][-1, 0, 0, 0]
    assert final[mask > 0].mean() > final[mask == 0].mean() + 2.0


def test_checkpoint_without_the_prior_loads_with_zero_gain(tmp_path):
    model = _model(2.0)
    path = tmp_path / "old.safetensors"
    save_checkpoint(model, path)
    state = load_file(str(path))
    for k in PRIOR_KEYS:
        state.pop(k)
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    save_file(state, str(path), metadata=meta)
    loaded = load_checkpoint(path)
    loaded = loaded[0] if isinstance(loaded, tuple) else loaded
    assert float(loaded.mask_decoder.prior_gain.bias.detach()) == 0.0
    assert float(loaded.mask_decoder.prior_gain.weight.detach().abs().sum()) == 0.0
