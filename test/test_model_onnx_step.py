"""The streaming step is a pure-tensor function: it exports to ONNX and onnxruntime agrees."""

import warnings

import numpy as np
import pytest
import torch

from ausm import build_model

pytestmark = pytest.mark.export

ort = pytest.importorskip("onnxruntime")


class StepGraph(torch.nn.Module):
    """Flat tensors in and out, as an exported graph needs them."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, frame, id_masks, id_valid, *state):
        slots = torch.arange(id_masks.shape[1]).unsqueeze(0)
        out, nxt = self.model.step(frame, list(state), slots, id_masks, id_valid)
        return (out["mask_logits"], out["objectness_logits"], *out["class_logits"].values(), *nxt)


def test_step_exports_to_onnx_and_matches_onnxruntime(tmp_path):
    torch.manual_seed(0)
    model = build_model("tiny", input_size=[64, 96]).eval()
    graph = StepGraph(model).eval()  # a module in train mode would flip the model on export
    S = model.config.num_ids
    g = torch.Generator().manual_seed(1)
    state = model.initial_state(1, (64, 96))
    with torch.no_grad():  # a non-trivial state: one step in
        _, state = model.step(
            torch.rand(1, 3, 64, 96, generator=g),
            state,
            torch.arange(S)[None],
            torch.zeros(1, S, 16, 24),
            torch.zeros(1, S, dtype=torch.bool),
        )
    args = (
        torch.rand(1, 3, 64, 96, generator=g),
        (torch.rand(1, S, 16, 24, generator=g) > 0.7).float(),
        torch.rand(1, S, generator=g) > 0.5,
        *state,
    )
    names = ["frame", "id_masks", "id_valid"] + model.state_names()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, args, str(tmp_path / "step.onnx"), input_names=names, opset_version=17, dynamo=False)
    sess = ort.InferenceSession(str(tmp_path / "step.onnx"))
    got = sess.run(None, {i.name: a.numpy() for i, a in zip(sess.get_inputs(), args)})
    with torch.no_grad():
        ref = graph(*args)
    assert len(got) == len(ref) == 3 + len(state)
    for o, r in zip(got, ref):
        assert o.shape == tuple(r.shape)
        assert np.abs(o - r.numpy()).max() <= 1e-4
