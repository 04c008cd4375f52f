"""The reference scans of both SSMs, in pure PyTorch: what ``dispatch`` runs when the
mamba-ssm kernels do not (CPU, no CUDA build, ``AUSM_SSM_BACKEND=torch``).

  selective_scan_torch   Mamba-1: chunked selective scan, a log-depth prefix scan per chunk
  ssd_scan_torch         Mamba-2: chunked state-space duality (SSD)

Both compute in the dtype they are given (fp32, or fp64 in the twin tests) and return
``(y, final_state)``. The SSM modules never call these directly: they go through
``dispatch``, which imports this module (and nothing here imports back).
"""

import torch
import torch.nn.functional as F


def selective_scan_torch(x, dt, A, B, C, D, z, dt_bias, h0, chunk_size):
    """Reference selective scan (Mamba-1), chunked.

    x, dt, z: [b, l, d]; A: [d, n]; B, C: [b, l, n]; D, dt_bias: [d]; h0: [b, d, n].
    Within a chunk the linear recurrence h_t = a_t h_{t-1} + b_t is solved by a
    Hillis-Steele prefix scan (log2(chunk) steps, each a product of decays <= 1, so
    nothing overflows); chunks are chained through the carried state. The memory
    of one chunk is b*chunk*d*n, which is what ``chunk_size`` bounds.
    """
    dt = F.softplus(dt + dt_bias)
    h = h0
    ys = []
    for s in range(0, x.shape[1], chunk_size):
        sl = slice(s, s + chunk_size)
        a = torch.exp(dt[:, sl].unsqueeze(-1) * A)  # [b, c, d, n]
        b = (dt[:, sl] * x[:, sl]).unsqueeze(-1) * B[:, sl].unsqueeze(2)  # [b, c, d, n]
        b = torch.cat([b[:, :1] + a[:, :1] * h.unsqueeze(1), b[:, 1:]], dim=1)
        a, hs = _prefix_scan(a, b)
        ys.append((hs @ C[:, sl].unsqueeze(-1)).squeeze(-1))  # [b, c, d]
        h = hs[:, -1]
    y = torch.cat(ys, dim=1) + x * D
    return y * F.silu(z), h


def _prefix_scan(a, b):
    """Inclusive scan of (a, b) pairs under (a1,b1)*(a2,b2) = (a1 a2, a2 b1 + b2) along dim 1."""
    k = 1
    while k < a.shape[1]:
        b = torch.cat([b[:, :k], b[:, k:] + a[:, k:] * b[:, :-k]], dim=1)
        a = torch.cat([a[:, :k], a[:, k:] * a[:, :-k]], dim=1)
        k *= 2
    return a, b


def _segsum(a):
    """a: [..., T] -> [..., T, T] with out[i, j] = sum(a[j+1..i]) for i >= j, -inf above.
    Built from masked cumulative sums rather than differences of one cumsum, so that
    long chunks do not lose precision by subtracting large numbers."""
    T = a.shape[-1]
    a = a.unsqueeze(-1).expand(*a.shape, T)  # a[..., i, j] = a_i
    lower = torch.ones(T, T, dtype=torch.bool, device=a.device).tril(-1)
    s = torch.cumsum(a.masked_fill(~lower, 0), dim=-2)
    return s.masked_fill(~torch.ones_like(lower).tril(0), float("-inf"))


def ssd_scan_torch(x, dt, A, B, C, D, dt_bias, dt_limit, h0, chunk_size):
    """Chunked SSD (Mamba-2).

    x: [b, l, h, p]; dt: [b, l, h] (before softplus); A: [h]; B, C: [b, l, g, n];
    D: [h]; h0: [b, h, p, n]. Returns (y [b, l, h, p], final state [b, h, p, n]).
    The sequence is zero-padded to whole chunks; padded steps have dt = 0, so they
    neither decay nor add to the state and the final state is exact.
    """
    b, l, h, p = x.shape
    rep = h // B.shape[2]
    B, C = B.repeat_interleave(rep, dim=2), C.repeat_interleave(rep, dim=2)  # [b, l, h, n]
    dt = F.softplus(dt + dt_bias)
    if tuple(dt_limit) != (0.0, float("inf")):
        dt = dt.clamp(*dt_limit)
    y_skip = x * D[:, None]

    pad = (-l) % chunk_size
    if pad:
        x, B, C = (F.pad(t, (0, 0, 0, 0, 0, pad)) for t in (x, B, C))
        dt = F.pad(dt, (0, 0, 0, pad))
    nc = x.shape[1] // chunk_size
    chunk = lambda t: t.unflatten(1, (nc, chunk_size))
    xdt = chunk(x * dt.unsqueeze(-1))  # [b, c, L, h, p]
    B, C = chunk(B), chunk(C)  # [b, c, L, h, n]
    a = chunk(dt * A).permute(0, 3, 1, 2)  # [b, h, c, L]
    a_cum = torch.cumsum(a, dim=-1)

    # inside each chunk: y = (C B^T * decay) x, an attention-like quadratic form
    decay = torch.exp(_segsum(a))  # [b, h, c, L, L]
    y_in = torch.einsum("bclhn,bcshn,bhcls,bcshp->bclhp", C, B, decay, xdt)

    # state each chunk contributes at its end, then chained across chunks
    to_end = torch.exp(a_cum[..., -1:] - a_cum)  # [b, h, c, L]
    chunk_states = torch.einsum("bclhn,bhcl,bclhp->bchpn", B, to_end, xdt)
    states = torch.cat([h0.unsqueeze(1).to(chunk_states.dtype), chunk_states], dim=1)
    chunk_decay = torch.exp(_segsum(F.pad(a_cum[..., -1], (1, 0))))  # [b, h, c+1, c+1]
    states = torch.einsum("bhzc,bchpn->bzhpn", chunk_decay, states)
    prev_states, final = states[:, :-1], states[:, -1]

    # contribution of the state entering each chunk
    y_prev = torch.einsum("bclhn,bchpn,bhcl->bclhp", C, prev_states, torch.exp(a_cum))
    y = (y_in + y_prev).flatten(1, 2)[:, :l] + y_skip
    return y, final
