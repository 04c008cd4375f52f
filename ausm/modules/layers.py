"""Transformer building blocks shared by the AUSM modules."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    """Multi-head attention; positional embeddings are added to queries and keys only
    (DETR/Mask2Former convention). ``mask`` is boolean, True = may attend, broadcastable
    to [B, heads, Lq, Lk]."""

    def __init__(self, dim, num_heads, dropout=0.0):
        super().__init__()
        self.num_heads, self.dropout = num_heads, dropout
        self.q_proj, self.k_proj, self.v_proj = (nn.Linear(dim, dim) for _ in range(3))
        self.out_proj = nn.Linear(dim, dim)
        for lin in (self.q_proj, self.k_proj, self.v_proj, self.out_proj):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, q, k, v, mask=None):
        B, Lq, C = q.shape
        h = self.num_heads
        split = lambda t: t.unflatten(-1, (h, C // h)).transpose(1, 2)  # [B, h, L, C/h]
        q, k, v = split(self.q_proj(q)), split(self.k_proj(k)), split(self.v_proj(v))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).reshape(B, Lq, C))


class FFN(nn.Module):
    def __init__(self, dim, hidden, dropout=0.0):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.fc2(self.dropout(F.relu(self.fc1(x))))


class MLP(nn.Module):
    """n linear layers with ReLU between (Mask2Former's mask embedding head)."""

    def __init__(self, dim_in, hidden, dim_out, num_layers):
        super().__init__()
        dims = [dim_in] + [hidden] * (num_layers - 1) + [dim_out]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x


def sine_position_embedding(h, w, dim, device=None, dtype=torch.float32, temperature=10000.0):
    """DETR's normalised 2-D sine embedding, [h*w, dim]: half the channels encode y, half x.
    A pure function of the map size, so the parallel and streaming paths share it exactly."""
    npf = dim // 2
    eps, scale = 1e-6, 2 * math.pi
    y = torch.arange(1, h + 1, device=device, dtype=torch.float32) / (h + eps) * scale
    x = torch.arange(1, w + 1, device=device, dtype=torch.float32) / (w + eps) * scale
    dim_t = temperature ** (2 * (torch.arange(npf, device=device) // 2) / npf)
    py, px = y[:, None] / dim_t, x[:, None] / dim_t  # [h, npf], [w, npf]
    py = torch.stack([py[:, 0::2].sin(), py[:, 1::2].cos()], dim=2).flatten(1)
    px = torch.stack([px[:, 0::2].sin(), px[:, 1::2].cos()], dim=2).flatten(1)
    pos = torch.cat([py[:, None, :].expand(h, w, npf), px[None, :, :].expand(h, w, npf)], dim=-1)
    return pos.reshape(h * w, dim).to(dtype)


def group_norm(c):
    return nn.GroupNorm(32 if c % 32 == 0 and c >= 128 else 8, c)
