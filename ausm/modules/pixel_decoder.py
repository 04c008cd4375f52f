"""Multi-scale pixel decoder: backbone maps -> D-channel maps at 1/32, 1/16, 1/8 and
mask features at 1/4.

Choice (documented deviation from Mask2Former): instead of the multi-scale deformable
attention encoder (a custom CUDA op), an FPN top-down path, optionally preceded by
``num_encoder_layers`` plain transformer encoder layers on the coarsest level, where
tokens are few (h*w/1024) so full self-attention is cheap. Pure PyTorch, ONNX-friendly.
"""

import torch.nn as nn
import torch.nn.functional as F

from .layers import FFN, Attention, group_norm, sine_position_embedding


class EncoderLayer(nn.Module):
    def __init__(self, dim, num_heads, ffn_dim, dropout=0.0):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads, dropout)
        self.ffn = FFN(dim, ffn_dim, dropout)

    def forward(self, x, pos):
        y = self.norm1(x)
        x = x + self.attn(y + pos, y + pos, y)
        return x + self.ffn(self.norm2(x))


class PixelDecoder(nn.Module):
    def __init__(self, in_channels, dim, num_encoder_layers=0, num_heads=8, ffn_dim=1024):
        super().__init__()
        self.lateral = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, dim, 1, bias=False), group_norm(dim)) for c in in_channels
        )
        # output convs for 1/4, 1/8, 1/16 (1/32 goes straight out of the encoder)
        self.output = nn.ModuleList(
            nn.Sequential(nn.Conv2d(dim, dim, 3, padding=1, bias=False), group_norm(dim), nn.ReLU())
            for _ in in_channels[:-1]
        )
        self.encoder = nn.ModuleList(EncoderLayer(dim, num_heads, ffn_dim) for _ in range(num_encoder_layers))
        self.mask_features = nn.Conv2d(dim, dim, 1)

    def forward(self, feats):
        """feats: [1/4, 1/8, 1/16, 1/32] backbone maps.
        Returns (multi_scale [1/32, 1/16, 1/8] each [B, D, h, w], mask_features [B, D, H/4, W/4])."""
        p = self.lateral[-1](feats[-1])
        if len(self.encoder):
            B, D, h, w = p.shape
            pos = sine_position_embedding(h, w, D, p.device, p.dtype)
            t = p.flatten(2).transpose(1, 2)
            for layer in self.encoder:
                t = layer(t, pos)
            p = t.transpose(1, 2).reshape(B, D, h, w)
        levels = [p]
        for i in range(len(feats) - 2, -1, -1):
            lat = self.lateral[i](feats[i])
            p = self.output[i](lat + F.interpolate(p, size=lat.shape[-2:], mode="nearest"))
            levels.append(p)
        return levels[:3], self.mask_features(levels[3])
