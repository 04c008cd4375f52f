"""The SSM twins' single step, rewritten around ``ausm::SelectiveStateUpdate``.

``Mamba.step`` / ``Mamba2.step`` (ausm/ssm) compute projections, the causal conv, the
state update and the output projection in one function. For export the state update
must be one node, so this module splits a step into

    core_inputs(ssm, u, conv_state) -> (inputs of the node in its 4-D layout, attrs,
                                        new conv_state, what the output stage needs)
    node (custom op, or its PyTorch reference)
    finish(ssm, y, ...) -> the layer output

using the twins' parameters unchanged; tests check the composition equals ``step``.
``ssm_steps_as_custom_op(model)`` routes every compressor layer's SSM step through it
for the duration of an export, as a child module named ``ssm_step``: the tracer names
every node of the step ``/ssm_step.../...`` in the ONNX graph, and the TensorRT builder
keeps that region fp32 by its name (``REGION_TAG``).
"""

import contextlib

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..ssm import Mamba, Mamba2
from ..ssm.common import conv_step, ssm_dtype
from . import ssm_op

REGION_TAG = "ssm_step"


def mamba1_core_inputs(m, u, conv_state):
    """Mamba-1 as the node's layout: h = 1, p = d_inner."""
    x, z = m.in_proj(u).chunk(2, dim=-1)
    x, conv_state = conv_step(x, conv_state, m.conv1d)
    x = F.silu(x)
    dt, Bm, Cm = m.x_proj(x).split([m.dt_rank, m.d_state, m.d_state], dim=-1)
    dt = dt @ m.dt_proj.weight.t()  # the bias is applied inside the node
    A = -torch.exp(m.A_log.to(u.dtype))
    inputs = dict(
        x=x[:, None],
        dt=dt[:, None],
        A=A[None],
        B=Bm[:, None],
        C=Cm[:, None],
        D=m.D.to(u.dtype)[None],
        z=z[:, None],
        dt_bias=m.dt_proj.bias.to(u.dtype)[None],
    )
    return inputs, dict(gate=1), conv_state, None


def mamba1_finish(m, y, extra):
    return m.out_proj(y.squeeze(1))


def mamba2_core_inputs(m, u, conv_state):
    """Mamba-2 as the node's layout: h = nheads, p = headdim, gate off (the gate is in the norm)."""
    z, xbc, dt = m._split_in_proj(m.in_proj(u))
    xbc, conv_state = conv_step(xbc, conv_state, m.conv1d)
    x, Bm, Cm = m._split_xbc(F.silu(xbc))  # x [b,h,p]; B,C [b,g,n]
    rep = m.nheads // m.ngroups
    Bm, Cm = Bm.repeat_interleave(rep, dim=1), Cm.repeat_interleave(rep, dim=1)
    h, p, n = m.nheads, m.headdim, m.d_state
    A = -torch.exp(m.A_log.to(u.dtype))
    inputs = dict(
        x=x,
        dt=dt[..., None].expand(-1, h, p),
        A=A[:, None, None].expand(h, p, n),
        B=Bm,
        C=Cm,
        D=m.D.to(u.dtype)[:, None].expand(h, p),
        z=x,  # unused with gate = 0; any tensor of x's shape
        dt_bias=m.dt_bias.to(u.dtype)[:, None].expand(h, p),
    )
    lo, hi = m.dt_limit
    return inputs, dict(gate=0, dt_min=float(lo), dt_max=float(hi)), conv_state, z


def mamba2_finish(m, y, z):
    return m.out_proj(m.norm(y.flatten(-2), z))


_ADAPTERS = {Mamba: (mamba1_core_inputs, mamba1_finish), Mamba2: (mamba2_core_inputs, mamba2_finish)}


def to_node_layout(m, ssm_state):
    """The twin's ssm_state in the node's 4-D layout (Mamba-1 adds h = 1)."""
    return ssm_state.unsqueeze(1) if isinstance(m, Mamba) else ssm_state


def from_node_layout(m, state4):
    # squeeze, not indexing: a Squeeze node keeps the node's output a plain view of the state
    return state4.squeeze(1) if isinstance(m, Mamba) else state4


def split_step(m, u, state, use_custom_op=True):
    """One step of SSM module ``m`` through the node. Same contract as ``m.step``."""
    if type(m) not in _ADAPTERS:
        raise TypeError(f"no SelectiveStateUpdate mapping for {type(m).__name__}")
    core_inputs, finish = _ADAPTERS[type(m)]
    conv_state, ssm_state = state
    u = u.to(ssm_dtype(m.in_proj.weight))
    inputs, attrs, conv_state, extra = core_inputs(m, u, conv_state)
    run = ssm_op.apply_op if use_custom_op else ssm_op.selective_state_update
    y, state4 = run(to_node_layout(m, ssm_state), **inputs, **attrs)
    return finish(m, y, extra), (conv_state, from_node_layout(m, state4))


class ExportStep(nn.Module):
    """Holds no parameters of its own; the SSM it serves is kept out of the module tree
    (a child pointing back at its parent would make state_dict recurse forever)."""

    def __init__(self, ssm):
        super().__init__()
        self._ssm = [ssm]

    def forward(self, u, conv_state, ssm_state):
        return split_step(self._ssm[0], u, (conv_state, ssm_state))


@contextlib.contextmanager
def ssm_steps_as_custom_op(model):
    """Within the block, every compressor SSM's ``step`` emits the custom node."""
    patched = []
    try:
        for layer in model.compressor.layers:
            ssm = layer.ssm
            ssm.add_module(REGION_TAG, ExportStep(ssm))
            ssm.step = lambda u, state, _s=ssm: getattr(_s, REGION_TAG)(u, *state)
            patched.append(ssm)
        yield model
    finally:
        for ssm in patched:
            del ssm.step
            del ssm._modules[REGION_TAG]
