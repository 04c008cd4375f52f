"""History Decoder: the current frame's features X_t (queries) read the compressed
history F_t (keys/values) and become G_t. Pre-norm transformer decoder layers."""

import torch.nn as nn

from .layers import FFN, Attention


class HistoryDecoderLayer(nn.Module):
    def __init__(self, dim, num_heads, ffn_dim, self_attn=True, dropout=0.0):
        super().__init__()
        self.norm_cross, self.norm_ffn = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.cross_attn = Attention(dim, num_heads, dropout)
        self.norm_self = nn.LayerNorm(dim) if self_attn else None
        self.self_attn = Attention(dim, num_heads, dropout) if self_attn else None
        self.ffn = FFN(dim, ffn_dim, dropout)

    def forward(self, x, memory, pos):
        y = self.norm_cross(x)
        x = x + self.cross_attn(y + pos, memory + pos, memory)
        if self.self_attn is not None:
            y = self.norm_self(x)
            x = x + self.self_attn(y + pos, y + pos, y)
        return x + self.ffn(self.norm_ffn(x))


class HistoryDecoder(nn.Module):
    def __init__(self, dim, num_layers, num_heads, ffn_dim, self_attn=True, dropout=0.0):
        super().__init__()
        self.layers = nn.ModuleList(
            HistoryDecoderLayer(dim, num_heads, ffn_dim, self_attn, dropout) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, x, memory, pos):
        """x: [frames, N, D] current features; memory: [frames, N, D] F_t; pos: [N, D]."""
        for layer in self.layers:
            x = layer(x, memory, pos)
        return self.norm(x)
