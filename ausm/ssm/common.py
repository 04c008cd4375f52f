"""Pieces both SSM variants share: fp32 regions, dt initialisation, the causal conv."""

import contextlib
import math

import torch
import torch.nn.functional as F


def ssm_dtype(weight):
    """The SSM computes in float32, or float64 when the module was made float64."""
    return torch.float64 if weight.dtype == torch.float64 else torch.float32


@contextlib.contextmanager
def fp32_region(t):
    """Disable autocast: the SSM state and its arithmetic must not drop to fp16/bf16."""
    device_type = t.device.type if t.device.type in ("cuda", "cpu", "xpu", "mps") else "cpu"
    with torch.autocast(device_type=device_type, enabled=False):
        yield


def init_dt_bias(n, dt_min, dt_max, dt_init_floor):
    """Inverse-softplus of dt ~ LogUniform(dt_min, dt_max), as mamba_ssm initialises it."""
    dt = torch.exp(torch.rand(n) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
    dt = dt.clamp(min=dt_init_floor)
    return dt + torch.log(-torch.expm1(-dt))


def causal_conv_with_state(x, conv_state, conv):
    """Depthwise causal conv over a segment x [B, L, C], continuing from conv_state
    [B, C, K] (the last K inputs seen, zeros at the start). Returns (y [B, L, C], new_state)."""
    K = conv.kernel_size[0]
    xt = x.transpose(1, 2)  # [B, C, L]
    xin = torch.cat([conv_state[..., 1:].to(xt.dtype), xt], dim=-1)  # K-1 history + L new
    y = F.conv1d(xin, conv.weight, conv.bias, groups=conv.groups)  # no padding: length L
    new_state = torch.cat([conv_state.to(xt.dtype), xt], dim=-1)[..., -K:]
    return y.transpose(1, 2), new_state


def conv_step(x, conv_state, conv):
    """One step of the depthwise causal conv: x [B, C]; conv_state [B, C, K]."""
    conv_state = torch.cat([conv_state[..., 1:], x.unsqueeze(-1)], dim=-1)
    y = (conv_state * conv.weight.squeeze(1)).sum(-1)
    if conv.bias is not None:
        y = y + conv.bias
    return y, conv_state
