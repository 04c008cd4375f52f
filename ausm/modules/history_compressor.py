"""History Compressor: turns the marked history E_t into F_t.

Each layer (pre-norm, residual):
  1. temporal SSM run per pixel along time: every pixel of the 1/8 map is its own
     sequence, so the recurrent state is per layer and per pixel;
  2. spatial self-attention among the pixels of one frame;
  3. FFN.
Two forms over the same weights: ``forward_clip`` (all T frames at once, the SSM in
its chunked form) and ``step`` (one frame, the SSM's recurrent step).
"""

import torch.nn as nn

from ..ssm import build_ssm
from .layers import FFN, Attention


class CompressorLayer(nn.Module):
    def __init__(self, dim, num_heads, ffn_dim, ssm, ssm_args, dropout=0.0):
        super().__init__()
        self.norm_ssm, self.norm_attn, self.norm_ffn = (nn.LayerNorm(dim) for _ in range(3))
        self.ssm = build_ssm(ssm, dim, **ssm_args)
        self.attn = Attention(dim, num_heads, dropout)
        self.ffn = FFN(dim, ffn_dim, dropout)

    def _spatial(self, x, pos):
        """x: [frames, N, D] tokens of single frames."""
        y = self.norm_attn(x)
        x = x + self.attn(y + pos, y + pos, y)
        return x + self.ffn(self.norm_ffn(x))

    def forward_clip(self, x, pos, state=None):
        """x: [B, T, N, D]; state: (conv, ssm) with batch B*N. Returns (x, state)."""
        B, T, N, D = x.shape
        seq = self.norm_ssm(x).permute(0, 2, 1, 3).reshape(B * N, T, D)  # one sequence per pixel
        y, state = self.ssm(seq, state)
        x = x + y.view(B, N, T, D).permute(0, 2, 1, 3)
        return self._spatial(x.reshape(B * T, N, D), pos).view(B, T, N, D), state

    def step(self, x, pos, state):
        """x: [B, N, D] one frame; state: (conv, ssm) with batch B*N."""
        B, N, D = x.shape
        y, state = self.ssm.step(self.norm_ssm(x).reshape(B * N, D), state)
        return self._spatial(x + y.view(B, N, D), pos), state


class HistoryCompressor(nn.Module):
    def __init__(self, dim, num_layers, num_heads, ffn_dim, ssm, ssm_args, dropout=0.0):
        super().__init__()
        self.layers = nn.ModuleList(
            CompressorLayer(dim, num_heads, ffn_dim, ssm, ssm_args, dropout) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(dim)

    def state_shapes(self, batch_pixels):
        return [s for layer in self.layers for s in layer.ssm.state_shapes(batch_pixels)]

    def initial_state(self, batch_pixels, device=None):
        return [t for layer in self.layers for t in layer.ssm.allocate_state(batch_pixels, device)]

    def forward_clip(self, x, pos, state=None):
        """x: [B, T, N, D]; state: flat list [conv_0, ssm_0, conv_1, ...] or None."""
        new_state = []
        for i, layer in enumerate(self.layers):
            s = None if state is None else (state[2 * i], state[2 * i + 1])
            x, s = layer.forward_clip(x, pos, s)
            new_state += list(s)
        return self.norm(x), new_state

    def step(self, x, pos, state):
        """x: [B, N, D]; state: flat list as above."""
        new_state = []
        for i, layer in enumerate(self.layers):
            x, s = layer.step(x, pos, (state[2 * i], state[2 * i + 1]))
            new_state += list(s)
        return self.norm(x), new_state
