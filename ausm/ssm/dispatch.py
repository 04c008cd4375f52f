"""Choose between the pure-PyTorch scans (``scans``) and the mamba-ssm CUDA kernels.

The kernels are used only when ``mamba_ssm`` imports AND the tensors are on CUDA
(and ``AUSM_SSM_BACKEND`` is not ``torch``). ``mamba_ssm`` is imported lazily, on
first use, never at module import time: it needs CUDA and is absent on CPU hosts.
Both backends see the same fp32 inputs and return fp32 states.
"""

import os

import torch

from .scans import selective_scan_torch, ssd_scan_torch

_kernels = None  # cache: False when unavailable, else a dict of functions


def _load_kernels():
    global _kernels
    if _kernels is None:
        _kernels = False
        if os.environ.get("AUSM_SSM_BACKEND", "auto") != "torch":
            try:
                from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
                from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined

                _kernels = {"selective_scan": selective_scan_fn, "ssd": mamba_chunk_scan_combined}
            except Exception:  # ImportError, or a broken CUDA build
                _kernels = False
    return _kernels


def backend_name(device):
    """'mamba_ssm' or 'torch': what a tensor on ``device`` would run with."""
    return "mamba_ssm" if getattr(device, "type", device) == "cuda" and _load_kernels() else "torch"


def selective_scan(x, dt, A, B, C, D, z, dt_bias, h0, chunk_size):
    """Mamba-1 scan. x, dt, z: [b, l, d]; B, C: [b, l, n]; h0: [b, d, n]."""
    k = _load_kernels() if x.is_cuda else False
    # selective_scan_fn has no initial-state input: use it only from a zero state.
    if k and x.dtype == torch.float32 and not bool(h0.abs().max() > 0):
        y, last = k["selective_scan"](
            x.transpose(1, 2).contiguous(),
            dt.transpose(1, 2).contiguous(),
            A,
            B.transpose(1, 2).contiguous(),
            C.transpose(1, 2).contiguous(),
            D.float(),
            z=z.transpose(1, 2).contiguous(),
            delta_bias=dt_bias.float(),
            delta_softplus=True,
            return_last_state=True,
        )
        return y.transpose(1, 2), last
    return selective_scan_torch(x, dt, A, B, C, D, z, dt_bias, h0, chunk_size)


def ssd_scan(x, dt, A, B, C, D, dt_bias, dt_limit, h0, chunk_size):
    """Mamba-2 chunked scan. x: [b, l, h, p]; dt: [b, l, h]; B, C: [b, l, g, n]."""
    k = _load_kernels() if x.is_cuda else False
    if k:
        y, final = k["ssd"](
            x,
            dt,
            A,
            B,
            C,
            chunk_size,
            D=D,
            z=None,
            dt_bias=dt_bias,
            initial_states=h0,
            dt_softplus=True,
            dt_limit=tuple(dt_limit),
            return_final_states=True,
        )
        return y, final
    return ssd_scan_torch(x, dt, A, B, C, D, dt_bias, dt_limit, h0, chunk_size)
