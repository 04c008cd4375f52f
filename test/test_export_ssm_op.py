"""The ausm::SelectiveStateUpdate node: its ONNX function (run by onnxruntime) and its
PyTorch reference agree with each other and with the SSM twins' own step."""

import onnx
import onnxruntime as ort
import pytest
import torch

from ausm.export import ssm_op
from ausm.export.ssm_step import split_step
from ausm.ssm import Mamba, Mamba2

pytestmark = pytest.mark.export


def random_inputs(b=6, h=2, p=5, n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)
    x = dict(
        state=r(b, h, p, n),
        x=r(b, h, p),
        dt=3 * r(b, h, p),
        A=-3 * torch.rand(h, p, n, generator=g),
        B=r(b, h, n),
        C=r(b, h, n),
        D=r(h, p),
        z=r(b, h, p),
        dt_bias=r(h, p),
    )
    x["dt"][0, 0, 0], x["dt"][0, 0, 1] = 200.0, -200.0  # softplus far out on both sides
    return x


def run_function(inputs, attrs=None):
    model = ssm_op.standalone_model({k: list(v.shape) for k, v in inputs.items()}, attrs)
    onnx.checker.check_model(model, full_check=True)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return [torch.from_numpy(v) for v in sess.run(None, {k: v.numpy() for k, v in inputs.items()})]


@pytest.mark.parametrize("attrs", [{}, {"gate": 0}, {"dt_min": 0.05, "dt_max": 0.5}])
def test_function_matches_reference(attrs):
    inputs = random_inputs()
    y, state = run_function(inputs, attrs)
    ry, rstate = ssm_op.selective_state_update(**inputs, **attrs)
    assert torch.isfinite(y).all() and torch.isfinite(state).all()
    torch.testing.assert_close(y, ry, atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(state, rstate, atol=2e-6, rtol=1e-6)


def test_attributes_change_the_result():
    """The attribute references inside the function really reach its body."""
    inputs = random_inputs()
    y_gated, _ = run_function(inputs)
    y_plain, _ = run_function(inputs, {"gate": 0})
    assert not torch.allclose(y_gated, y_plain)
    _, s_clamped = run_function(inputs, {"dt_max": 1e-3})
    _, s_free = run_function(inputs)
    assert not torch.allclose(s_clamped, s_free)


def test_function_is_in_the_model():
    model = ssm_op.standalone_model({k: list(v.shape) for k, v in random_inputs().items()})
    (fn,) = model.functions
    assert (fn.domain, fn.name) == (ssm_op.DOMAIN, ssm_op.OP_TYPE)
    assert list(fn.input) == list(ssm_op.INPUTS) and list(fn.output) == list(ssm_op.OUTPUTS)
    assert {a.name for a in fn.attribute_proto} == set(ssm_op.DEFAULT_ATTRS)
    assert any(o.domain == ssm_op.DOMAIN for o in model.opset_import)
    # no standard-domain op of that name exists: without the function nothing could run it
    assert not any(n.op_type == ssm_op.OP_TYPE for n in fn.node)


@pytest.mark.parametrize("kind", ["mamba1", "mamba2"])
def test_split_step_equals_twin_step(kind):
    """Projections + node + output stage == the twin's own step (Mamba-1 and Mamba-2)."""
    torch.manual_seed(0)
    m = Mamba(32, d_state=8) if kind == "mamba1" else Mamba2(32, d_state=16, headdim=16)
    conv, ssm = m.allocate_state(10)
    state = (torch.randn_like(conv), torch.randn_like(ssm))
    for _t in range(3):
        u = torch.randn(10, 32)
        y_ref, s_ref = m.step(u, state)
        with torch.no_grad():
            y, s = split_step(m, u, state, use_custom_op=False)
            y_op, s_op = split_step(m, u, state, use_custom_op=True)
        torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(s[1], s_ref[1], atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(s[0], s_ref[0])
        torch.testing.assert_close(y_op, y)
        state = s_ref
