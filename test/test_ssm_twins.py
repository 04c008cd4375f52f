"""The pure-PyTorch Mamba twins: chunked vs step vs segmented, names and shapes, fp32 state."""

import subprocess
import sys

import pytest
import torch

from ausm.ssm import Mamba, Mamba2, build_ssm

TOL = 1e-10


def make(kind, **kw):
    torch.manual_seed(0)
    if kind == "mamba1":
        m = Mamba(24, d_state=6, d_conv=4, expand=2, chunk_size=5, **kw)
    else:
        m = Mamba2(24, d_state=6, d_conv=4, expand=2, headdim=12, ngroups=2, chunk_size=5, **kw)
    m = m.double()
    with torch.no_grad():  # larger dt than the default init, so the state really decays
        if kind == "mamba1":
            m.dt_proj.bias.add_(2.0)
        else:
            m.dt_bias.add_(2.0)
    return m


def run_steps(m, u, state=None):
    state = state or m.allocate_state(u.shape[0], dtype=u.dtype)
    ys = []
    for t in range(u.shape[1]):
        y, state = m.step(u[:, t], state)
        ys.append(y)
    return torch.stack(ys, 1), state


@pytest.mark.parametrize("kind", ["mamba1", "mamba2"])
def test_chunked_step_segmented_agree_float64(kind):
    m = make(kind)
    u = torch.randn(3, 37, 24, dtype=torch.float64)
    y_chunk, (c1, s1) = m(u)
    y_step, (c2, s2) = run_steps(m, u)
    assert s1.abs().max() > 1e-3 and y_chunk.abs().max() > 1e-2  # not trivially zero
    assert (y_chunk - y_step).abs().max() < TOL
    assert (s1 - s2).abs().max() < TOL and (c1 - c2).abs().max() < TOL

    state, parts = None, []
    for a, b in [(0, 1), (1, 4), (4, 16), (16, 17), (17, 37)]:  # segments shorter and longer than a chunk
        y, state = m(u[:, a:b], state)
        parts.append(y)
    assert (torch.cat(parts, 1) - y_chunk).abs().max() < TOL
    assert (state[1] - s1).abs().max() < TOL

    # a segment continued by steps, then by a chunked segment again
    y_a, st = m(u[:, :10])
    y_b, st = run_steps(m, u[:, 10:20], st)
    y_c, st = m(u[:, 20:], st)
    assert (torch.cat([y_a, y_b, y_c], 1) - y_chunk).abs().max() < TOL


@pytest.mark.parametrize("kind", ["mamba1", "mamba2"])
def test_chunk_size_does_not_change_results(kind):
    m = make(kind)
    u = torch.randn(2, 29, 24, dtype=torch.float64)
    ref, (_, s_ref) = m(u)
    for cs in (1, 2, 3, 8, 29, 64):
        m.chunk_size = cs
        y, (_, s) = m(u)
        assert (y - ref).abs().max() < TOL, cs
        assert (s - s_ref).abs().max() < TOL, cs


def test_mamba1_parameter_names_and_shapes_match_mamba_ssm():
    # mamba_ssm.Mamba(d_model=32, d_state=16, d_conv=4, expand=2): dt_rank = ceil(32/16) = 2
    m = Mamba(32, d_state=16, d_conv=4, expand=2)
    expected = {
        "in_proj.weight": (128, 32),
        "conv1d.weight": (64, 1, 4),
        "conv1d.bias": (64,),
        "x_proj.weight": (2 + 32, 64),
        "dt_proj.weight": (64, 2),
        "dt_proj.bias": (64,),
        "A_log": (64, 16),
        "D": (64,),
        "out_proj.weight": (32, 64),
    }
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == expected
    # mamba_ssm initialises A_log = log(1..d_state) for every channel
    assert torch.allclose(m.A_log[5], torch.log(torch.arange(1, 17).float()))


def test_mamba2_parameter_names_and_shapes_match_mamba_ssm():
    # mamba_ssm.Mamba2(d_model=64, d_state=16, headdim=32): d_inner 128, nheads 4,
    # in_proj out = 2*128 + 2*16 + 4, conv_dim = 128 + 2*16
    m = Mamba2(64, d_state=16, d_conv=4, expand=2, headdim=32)
    expected = {
        "in_proj.weight": (292, 64),
        "conv1d.weight": (160, 1, 4),
        "conv1d.bias": (160,),
        "dt_bias": (4,),
        "A_log": (4,),
        "D": (4,),
        "norm.weight": (128,),
        "out_proj.weight": (64, 128),
    }
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == expected
    assert ((m.A_log.exp() >= 1) & (m.A_log.exp() <= 16)).all()


@pytest.mark.parametrize("kind", ["mamba1", "mamba2"])
def test_state_stays_fp32_under_autocast(kind):
    m = build_ssm(kind, 32, d_state=8, headdim=16)
    u = torch.randn(2, 6, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, (conv, ssm) = m(u)
        y1, (conv1, ssm1) = m.step(u[:, 0], m.allocate_state(2))
    assert ssm.dtype == conv.dtype == ssm1.dtype == torch.float32
    y_ref, (_, ssm_ref) = m(u)
    assert (ssm - ssm_ref).abs().max() < 1e-6  # not computed in bf16


@pytest.mark.subprocess
def test_no_mamba_ssm_import_at_module_import_and_torch_backend_on_cpu():
    code = (
        "import sys, torch, ausm, ausm.ssm, ausm.model\n"
        "from ausm.ssm import dispatch\n"
        "assert 'mamba_ssm' not in sys.modules\n"
        "print(dispatch.backend_name(torch.device('cpu')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "torch"


def test_unknown_ssm_rejected():
    with pytest.raises(ValueError, match="unknown ssm"):
        build_ssm("mamba3", 16)
