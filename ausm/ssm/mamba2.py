"""Mamba-2 (state-space duality, SSD) in pure PyTorch.

Parameter names and shapes are exactly those of ``mamba_ssm.Mamba2`` (defaults
ngroups=1, D_has_hdim=False, rmsnorm=True, norm_before_gate=False):

    in_proj    Linear(d_model, 2*d_inner + 2*ngroups*d_state + nheads, bias=bias)
    conv1d     Conv1d(conv_dim, conv_dim, d_conv, groups=conv_dim, padding=d_conv-1),
               conv_dim = d_inner + 2*ngroups*d_state
    dt_bias    (nheads,)
    A_log      (nheads,)
    D          (nheads,)
    norm.weight (d_inner,)   gated RMSNorm
    out_proj   Linear(d_inner, d_model, bias=bias)

``forward`` runs the chunked SSD form (quadratic attention-like inside a chunk, a
linear recurrence between chunks; ``dispatch.ssd_scan``: the mamba-ssm kernel on CUDA,
else ``scans.ssd_scan_torch``), ``step`` the recurrence one token at a time.
State: ``(conv_state [B, conv_dim, d_conv], ssm_state [B, nheads, headdim, d_state])``.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import dispatch
from .common import causal_conv_with_state, conv_step, fp32_region, init_dt_bias, ssm_dtype


class GatedRMSNorm(nn.Module):
    """RMSNorm(x * silu(z)) over groups of ``group_size`` channels (mamba_ssm's RMSNormGated)."""

    def __init__(self, d, group_size, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.group_size, self.eps = group_size, eps

    def forward(self, x, z):
        x = x * F.silu(z)
        g = x.unflatten(-1, (-1, self.group_size))
        g = g * torch.rsqrt(g.pow(2).mean(-1, keepdim=True) + self.eps)
        return g.flatten(-2) * self.weight


class Mamba2(nn.Module):
    def __init__(
        self,
        d_model,
        d_state=128,
        d_conv=4,
        expand=2,
        headdim=64,
        ngroups=1,
        A_init_range=(1, 16),
        dt_min=0.001,
        dt_max=0.1,
        dt_init_floor=1e-4,
        dt_limit=(0.0, float("inf")),
        bias=False,
        conv_bias=True,
        chunk_size=64,
        **unused,
    ):
        super().__init__()
        self.d_model, self.d_state, self.d_conv = d_model, d_state, d_conv
        self.d_inner = int(expand * d_model)
        if self.d_inner % headdim:
            raise ValueError(f"d_inner={self.d_inner} is not a multiple of headdim={headdim}")
        self.headdim, self.ngroups = headdim, ngroups
        self.nheads = self.d_inner // headdim
        self.dt_limit = tuple(dt_limit)
        self.chunk_size = chunk_size
        self.conv_dim = self.d_inner + 2 * ngroups * d_state

        self.in_proj = nn.Linear(d_model, 2 * self.d_inner + 2 * ngroups * d_state + self.nheads, bias=bias)
        self.conv1d = nn.Conv1d(
            self.conv_dim, self.conv_dim, d_conv, groups=self.conv_dim, padding=d_conv - 1, bias=conv_bias
        )
        self.dt_bias = nn.Parameter(init_dt_bias(self.nheads, dt_min, dt_max, dt_init_floor))
        A = torch.empty(self.nheads).uniform_(*A_init_range)
        self.A_log = nn.Parameter(torch.log(A))
        self.D = nn.Parameter(torch.ones(self.nheads))
        self.norm = GatedRMSNorm(self.d_inner, group_size=self.d_inner // ngroups)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias)
        for p in (self.dt_bias, self.A_log, self.D):
            p._no_weight_decay = True

    # -- state -------------------------------------------------------------------
    def state_shapes(self, batch):
        return [(batch, self.conv_dim, self.d_conv), (batch, self.nheads, self.headdim, self.d_state)]

    def allocate_state(self, batch, device=None, dtype=None):
        dtype = dtype or ssm_dtype(self.in_proj.weight)
        return tuple(torch.zeros(s, device=device, dtype=dtype) for s in self.state_shapes(batch))

    def _split_in_proj(self, zxbcdt):
        return zxbcdt.split([self.d_inner, self.conv_dim, self.nheads], dim=-1)

    def _split_xbc(self, xbc):
        gn = self.ngroups * self.d_state
        x, Bm, Cm = xbc.split([self.d_inner, gn, gn], dim=-1)
        return (
            x.unflatten(-1, (self.nheads, self.headdim)),
            Bm.unflatten(-1, (self.ngroups, self.d_state)),
            Cm.unflatten(-1, (self.ngroups, self.d_state)),
        )

    def _dt(self, dt):
        dt = F.softplus(dt + self.dt_bias)
        lo, hi = self.dt_limit
        return dt if (lo, hi) == (0.0, float("inf")) else dt.clamp(lo, hi)

    # -- whole sequence / segment --------------------------------------------------
    def forward(self, u, state=None):
        """u: [B, L, d_model]; returns (y [B, L, d_model], new_state)."""
        out_dtype = u.dtype
        with fp32_region(u):
            u = u.to(ssm_dtype(self.in_proj.weight))
            B, L, _ = u.shape
            if state is None:
                state = self.allocate_state(B, u.device, u.dtype)
            conv_state, ssm_state = state
            z, xbc, dt = self._split_in_proj(self.in_proj(u))
            xbc, conv_state = causal_conv_with_state(xbc, conv_state, self.conv1d)
            x, Bm, Cm = self._split_xbc(F.silu(xbc))
            A = -torch.exp(self.A_log.to(u.dtype))
            y, ssm_state = dispatch.ssd_scan(
                x, dt, A, Bm, Cm, self.D.to(u.dtype), self.dt_bias, self.dt_limit, ssm_state, self.chunk_size
            )
            y = self.out_proj(self.norm(y.flatten(-2), z))
        return y.to(out_dtype), (conv_state, ssm_state)

    # -- one step ---------------------------------------------------------------
    def step(self, u, state):
        """u: [B, d_model] one time step; returns (y [B, d_model], new_state)."""
        out_dtype = u.dtype
        with fp32_region(u):
            u = u.to(ssm_dtype(self.in_proj.weight))
            conv_state, ssm_state = state
            z, xbc, dt = self._split_in_proj(self.in_proj(u))
            xbc, conv_state = conv_step(xbc, conv_state, self.conv1d)
            x, Bm, Cm = self._split_xbc(F.silu(xbc))  # x [B,h,p]; B,C [B,g,n]
            rep = self.nheads // self.ngroups
            Bm, Cm = Bm.repeat_interleave(rep, dim=1), Cm.repeat_interleave(rep, dim=1)  # [B,h,n]
            dt = self._dt(dt)  # [B, h]
            dA = torch.exp(dt * -torch.exp(self.A_log))  # [B, h]
            dBx = (dt.unsqueeze(-1) * x).unsqueeze(-1) * Bm.unsqueeze(2)  # [B, h, p, n]
            ssm_state = ssm_state * dA[..., None, None] + dBx
            y = (ssm_state @ Cm.unsqueeze(-1)).squeeze(-1) + self.D[:, None] * x
            y = self.out_proj(self.norm(y.flatten(-2), z))
        return y.to(out_dtype), (conv_state, ssm_state)
