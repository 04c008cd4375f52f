"""Mamba-1 (selective scan) in pure PyTorch.

Parameter names and shapes are exactly those of ``mamba_ssm.Mamba`` so a state dict
moves unchanged between this module and the CUDA kernels:

    in_proj   Linear(d_model, 2*d_inner, bias=bias)
    conv1d    Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv-1)
    x_proj    Linear(d_inner, dt_rank + 2*d_state, bias=False)
    dt_proj   Linear(dt_rank, d_inner)
    A_log     (d_inner, d_state)
    D         (d_inner,)
    out_proj  Linear(d_inner, d_model, bias=bias)

Three ways to run the same recurrence, kept side by side:
  * ``forward(u, state)``: a whole sequence (or a segment of one, carrying ``state``),
    scanned chunk by chunk (``dispatch.selective_scan``: the mamba-ssm kernel on CUDA,
    else ``scans.selective_scan_torch``, a log-depth parallel prefix scan per chunk).
  * ``step(u_t, state)``: one time step, the streaming path.
  * segmented = ``forward`` called repeatedly, passing the returned state along.

The state is ``(conv_state [B, d_inner, d_conv], ssm_state [B, d_inner, d_state])``,
the layout of mamba_ssm's ``allocate_inference_cache``. It is always float32 (or
float64 when the module is float64): half-precision states drift within tens of steps.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import dispatch
from .common import causal_conv_with_state, conv_step, fp32_region, init_dt_bias, ssm_dtype


class Mamba(nn.Module):
    def __init__(
        self,
        d_model,
        d_state=16,
        d_conv=4,
        expand=2,
        dt_rank="auto",
        dt_min=0.001,
        dt_max=0.1,
        dt_init="random",
        dt_scale=1.0,
        dt_init_floor=1e-4,
        conv_bias=True,
        bias=False,
        chunk_size=64,
        **unused,
    ):
        super().__init__()
        self.d_model, self.d_state, self.d_conv = d_model, d_state, d_conv
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.chunk_size = chunk_size

        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=bias)
        self.conv1d = nn.Conv1d(
            self.d_inner, self.d_inner, d_conv, groups=self.d_inner, padding=d_conv - 1, bias=conv_bias
        )
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(self.d_inner, 1))
        self.D = nn.Parameter(torch.ones(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias)
        self.A_log._no_weight_decay = True
        self.D._no_weight_decay = True

        # Same initialisation as mamba_ssm, so training from scratch behaves alike.
        std = self.dt_rank**-0.5 * dt_scale
        with torch.no_grad():
            if dt_init == "constant":
                self.dt_proj.weight.fill_(std)
            else:
                self.dt_proj.weight.uniform_(-std, std)
            self.dt_proj.bias.copy_(init_dt_bias(self.d_inner, dt_min, dt_max, dt_init_floor))
        self.dt_proj.bias._no_reinit = True

    # -- state -------------------------------------------------------------------
    def state_shapes(self, batch):
        return [(batch, self.d_inner, self.d_conv), (batch, self.d_inner, self.d_state)]

    def allocate_state(self, batch, device=None, dtype=None):
        dtype = dtype or ssm_dtype(self.in_proj.weight)
        return tuple(torch.zeros(s, device=device, dtype=dtype) for s in self.state_shapes(batch))

    # -- whole sequence / segment --------------------------------------------------
    def forward(self, u, state=None):
        """u: [B, L, d_model]; state: optional (conv_state, ssm_state) carried in.
        Returns (y [B, L, d_model], new_state)."""
        out_dtype = u.dtype
        with fp32_region(u):
            u = u.to(ssm_dtype(self.in_proj.weight))
            B, L, _ = u.shape
            if state is None:
                state = self.allocate_state(B, u.device, u.dtype)
            conv_state, ssm_state = state
            x, z = self.in_proj(u).chunk(2, dim=-1)
            x, conv_state = causal_conv_with_state(x, conv_state, self.conv1d)
            x = F.silu(x)
            dt, Bm, Cm = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
            dt = dt @ self.dt_proj.weight.t()  # bias is applied inside the scan, as mamba_ssm does
            A = -torch.exp(self.A_log.to(u.dtype))
            y, ssm_state = dispatch.selective_scan(
                x, dt, A, Bm, Cm, self.D.to(u.dtype), z, self.dt_proj.bias.to(u.dtype), ssm_state, self.chunk_size
            )
            y = self.out_proj(y)
        return y.to(out_dtype), (conv_state, ssm_state)

    # -- one step ---------------------------------------------------------------
    def step(self, u, state):
        """u: [B, d_model] one time step; returns (y [B, d_model], new_state)."""
        out_dtype = u.dtype
        with fp32_region(u):
            u = u.to(ssm_dtype(self.in_proj.weight))
            conv_state, ssm_state = state
            x, z = self.in_proj(u).chunk(2, dim=-1)
            x, conv_state = conv_step(x, conv_state, self.conv1d)
            x = F.silu(x)
            dt, Bm, Cm = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
            dt = F.softplus(dt @ self.dt_proj.weight.t() + self.dt_proj.bias)
            A = -torch.exp(self.A_log.to(u.dtype))
            dA = torch.exp(dt.unsqueeze(-1) * A)  # [B, d, n]
            dBx = (dt * x).unsqueeze(-1) * Bm.unsqueeze(1)  # [B, d, n]
            ssm_state = ssm_state * dA + dBx
            y = (ssm_state @ Cm.unsqueeze(-1)).squeeze(-1) + self.D * x
            y = self.out_proj(y * F.silu(z))
        return y.to(out_dtype), (conv_state, ssm_state)
