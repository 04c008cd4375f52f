"""ONNX export of the streaming step: a checked file with one custom SSM node per
compressor layer, whose outputs (run by onnxruntime) equal AUSM.step frame after frame."""

import logging

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from ausm import build_model
from ausm.export import ssm_op
from ausm.export.onnx_export import export_inputs, export_step, main
from ausm.export.step_io import StepSpec

pytestmark = pytest.mark.export

HW = (64, 96)


def make_model(**overrides):
    torch.manual_seed(0)
    return build_model("tiny", **{"input_size": list(HW), **overrides}).eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = make_model()
    path = tmp_path_factory.mktemp("onnx") / "step.onnx"
    main(["--config", "tiny", "--input-size", f"{HW[1]}x{HW[0]}", "--out", str(path)])
    return model, path


def run_frames(model, path, frames=3):
    """Chain ``frames`` steps; onnxruntime gets torch's inputs each frame (lock step)."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    image, slots, masks, valid, *state = export_inputs(model, HW)
    worst = {}
    for t in range(frames):
        image = torch.rand(1, 3, *HW, generator=torch.Generator().manual_seed(t))
        feeds = {i.name: a.numpy() for i, a in zip(sess.get_inputs(), (image, slots, masks, valid, *state))}
        got = dict(zip(names, sess.run(None, feeds)))
        with torch.no_grad():
            out, nxt = model.step(image, state, slots, masks, valid)
        ref = {
            "mask_logits": out["mask_logits"],
            "objectness_logits": out["objectness_logits"],
            **{f"class_logits.{k}": v for k, v in out["class_logits"].items()},
            **{f"next_state.{n}": s for n, s in zip(model.state_names(), nxt)},
        }
        for k, v in ref.items():
            worst[k] = max(worst.get(k, 0.0), float(np.abs(got[k] - v.numpy()).max()))
        # the next frame's history: this frame's ID-row masks, as the session would feed back
        masks = (out["mask_logits"][:, : masks.shape[1]] > 0).float()
        state = nxt
    return worst


def test_file_is_checked_and_carries_the_custom_op(exported):
    model, path = exported
    m = onnx.load(str(path))
    onnx.checker.check_model(m, full_check=True)
    nodes = ssm_op.ssm_nodes(m)
    assert len(nodes) == model.config.compressor_layers
    assert all("ssm_step" in n.name for n in nodes)
    assert [(f.domain, f.name) for f in m.functions] == [(ssm_op.DOMAIN, ssm_op.OP_TYPE)]
    assert {o.domain: o.version for o in m.opset_import}[ssm_op.DOMAIN] == ssm_op.OP_VERSION
    # every layer's next SSM state is the custom node's output (up to reshapes), so a
    # TensorRT plugin replacing the node computes the whole state update
    producer = {o: n for n in m.graph.node for o in n.output}
    for i in range(model.config.compressor_layers):
        n = producer[f"next_state.compressor.{i}.ssm_state"]
        while n.op_type in ("Squeeze", "Reshape", "Identity"):
            n = producer[n.input[0]]
        assert (n.domain, n.op_type) == (ssm_op.DOMAIN, ssm_op.OP_TYPE)


def test_inputs_outputs_and_metadata(exported):
    model, path = exported
    spec = StepSpec.from_onnx(path)
    assert spec.input_hw == HW and spec.state_names == model.state_names()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ins = {i.name: (i.type, i.shape) for i in sess.get_inputs()}
    K, (mh, mw) = model.config.num_ids, model.mask_size(HW)
    assert ins["image"] == ("tensor(float)", [1, 3, *HW])
    assert ins["id_slots"] == ("tensor(int64)", [1, K])
    assert ins["id_masks"] == ("tensor(float)", [1, K, mh, mw])
    assert ins["id_valid"] == ("tensor(bool)", [1, K])
    for name, shape in zip(model.state_names(), model.state_shapes(1, HW)):
        assert ins[f"state.{name}"] == ("tensor(float)", list(shape))
    outs = {o.name: o.shape for o in sess.get_outputs()}
    Q = K + model.config.num_det_queries
    assert outs["mask_logits"] == [1, Q, mh, mw] and outs["objectness_logits"] == [1, Q]
    assert set(outs) == set(spec.outputs)


def test_onnxruntime_equals_torch_step(exported):
    model, path = exported
    worst = run_frames(model, path, frames=3)
    assert max(worst.values()) < 1e-4, worst


def test_mamba2_model_exports_and_matches(tmp_path):
    model = make_model(ssm="mamba2", ssm_args={"d_state": 16, "d_conv": 4, "expand": 2, "headdim": 32})
    res = export_step(model, tmp_path / "m2.onnx", progress=False)
    assert res.num_ssm_nodes == model.config.compressor_layers
    worst = run_frames(model, res.path, frames=2)
    assert max(worst.values()) < 1e-4, worst


def test_export_leaves_the_model_as_it_was(tmp_path, caplog):
    model = make_model()
    model.train()
    keys = list(model.state_dict())
    with caplog.at_level(logging.INFO, logger="ausm.export.onnx_export"):
        export_step(model, tmp_path / "s.onnx", progress=False)
    assert model.training and list(model.state_dict()) == keys
    assert all(
        not hasattr(layer.ssm, "ssm_step") and "step" not in vars(layer.ssm) for layer in model.compressor.layers
    )
    assert any("wrote" in r.message for r in caplog.records)


def test_size_is_required_without_a_fixed_input(tmp_path):
    model = make_model(input_size=None)
    with pytest.raises(ValueError, match="input size"):
        export_step(model, tmp_path / "x.onnx", progress=False)
    with pytest.raises(ValueError, match="multiples of 32"):
        export_step(model, tmp_path / "x.onnx", input_hw=(60, 90), progress=False)
