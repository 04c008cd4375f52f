"""Swin Transformer backbone (Liu et al., 2021) with the official release's parameter names.

Names follow microsoft/Swin-Transformer (``patch_embed.proj``, ``patch_embed.norm``,
``layers.{i}.blocks.{j}.norm1|attn.qkv|attn.proj|attn.relative_position_bias_table|
norm2|mlp.fc1|mlp.fc2``, ``layers.{i}.downsample.reduction|norm``) plus the
per-stage output norms ``norm{i}`` that the detection / Mask2Former variant adds, so
ImageNet or Mask2Former backbone weights load by name (see ``ausm.checkpoint``).
Like the detection variant, any input size works: feature maps are padded to whole
windows and the shifted-window masks are built for the actual size.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch of a sample during training."""

    def __init__(self, p=0.0):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def relative_position_index(ws):
    coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (ws - 1)
    return rel[..., 0] * (2 * ws - 1) + rel[..., 1]  # [ws*ws, ws*ws]


class WindowAttention(nn.Module):
    def __init__(self, dim, window_size, num_heads, qkv_bias=True):
        super().__init__()
        self.num_heads, self.window_size = num_heads, window_size
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        # official checkpoints store this index; it is a pure function of the window size
        self.register_buffer("relative_position_index", relative_position_index(window_size), persistent=False)
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, mask=None):
        """x: [num_windows*B, N, C]; mask: [num_windows, N, N] additive, or None."""
        Bw, N, C = x.shape
        q, k, v = self.qkv(x).view(Bw, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(N, N, -1).permute(2, 0, 1).unsqueeze(0)  # [1, heads, N, N]
        if mask is not None:
            nw = mask.shape[0]
            bias = (bias.unsqueeze(0) + mask[None, :, None]).expand(Bw // nw, -1, -1, -1, -1)
            bias = bias.reshape(Bw, self.num_heads, N, N)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        return self.proj(out.transpose(1, 2).reshape(Bw, N, C))


def window_partition(x, ws):
    B, H, W, C = x.shape
    x = x.view(B, H // ws, ws, W // ws, ws, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, C)


def window_merge(w, ws, B, H, W):
    x = w.view(B, H // ws, W // ws, ws, ws, -1).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(B, H, W, -1)


def shifted_window_mask(Hp, Wp, ws, shift, device):
    """Additive mask keeping shifted windows from attending across the wrap-around seam."""
    img = torch.zeros(1, Hp, Wp, 1, device=device)
    cnt = 0
    for hs in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
        for wsl in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
            img[:, hs, wsl] = cnt
            cnt += 1
    win = window_partition(img, ws).squeeze(-1)  # [nW, N]
    diff = win[:, None, :] - win[:, :, None]
    return torch.zeros_like(diff).masked_fill(diff != 0, -100.0)


class SwinTransformerBlock(nn.Module):
    def __init__(self, dim, num_heads, window_size, shift_size, mlp_ratio=4.0, drop_path=0.0):
        super().__init__()
        self.window_size, self.shift_size = window_size, shift_size
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window_size, num_heads)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x, H, W):
        B, L, C = x.shape
        ws, shift = self.window_size, self.shift_size
        y = self.norm1(x).view(B, H, W, C)
        ph, pw = (-H) % ws, (-W) % ws
        y = F.pad(y, (0, 0, 0, pw, 0, ph))
        Hp, Wp = H + ph, W + pw
        mask = None
        if shift:
            y = torch.roll(y, (-shift, -shift), dims=(1, 2))
            mask = shifted_window_mask(Hp, Wp, ws, shift, x.device)
        y = window_merge(self.attn(window_partition(y, ws), mask), ws, B, Hp, Wp)
        if shift:
            y = torch.roll(y, (shift, shift), dims=(1, 2))
        y = y[:, :H, :W].reshape(B, L, C)
        x = x + self.drop_path(y)
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x, H, W):
        B, L, C = x.shape
        x = x.view(B, H, W, C)
        x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.view(B, -1, 4 * C)))


class BasicLayer(nn.Module):
    """One Swin stage: blocks alternating plain / shifted windows, then patch merging."""

    def __init__(self, dim, depth, num_heads, window_size, drop_paths, downsample):
        super().__init__()
        self.blocks = nn.ModuleList(
            [
                SwinTransformerBlock(
                    dim, num_heads, window_size, 0 if j % 2 == 0 else window_size // 2, drop_path=drop_paths[j]
                )
                for j in range(depth)
            ]
        )
        self.downsample = PatchMerging(dim) if downsample else None

    def forward(self, x, H, W):
        for blk in self.blocks:
            x = blk(x, H, W)
        if self.downsample is None:
            return x, x, H, W
        return x, self.downsample(x, H, W), (H + 1) // 2, (W + 1) // 2


class PatchEmbed(nn.Module):
    def __init__(self, patch_size=4, embed_dim=96):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(3, embed_dim, patch_size, patch_size)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x):
        p = self.patch_size
        x = F.pad(x, (0, (-x.shape[-1]) % p, 0, (-x.shape[-2]) % p))
        x = self.proj(x)
        H, W = x.shape[-2:]
        return self.norm(x.flatten(2).transpose(1, 2)), H, W


class SwinTransformer(nn.Module):
    def __init__(
        self,
        embed_dim=96,
        depths=(2, 2, 6, 2),
        num_heads=(3, 6, 12, 24),
        window_size=7,
        drop_path_rate=0.2,
        patch_size=4,
    ):
        super().__init__()
        self.patch_embed = PatchEmbed(patch_size, embed_dim)
        n = sum(depths)  # stochastic depth grows linearly with block index
        dpr = [drop_path_rate * i / max(n - 1, 1) for i in range(n)]
        self.layers = nn.ModuleList()
        for i, d in enumerate(depths):
            self.layers.append(
                BasicLayer(
                    embed_dim * 2**i,
                    d,
                    num_heads[i],
                    window_size,
                    dpr[sum(depths[:i]) : sum(depths[: i + 1])],
                    downsample=i < len(depths) - 1,
                )
            )
        self.out_channels = [embed_dim * 2**i for i in range(len(depths))]
        self.strides = [patch_size * 2**i for i in range(len(depths))]
        for i, c in enumerate(self.out_channels):
            self.add_module(f"norm{i}", nn.LayerNorm(c))
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x):
        """x: [B, 3, H, W] -> per-stage maps [B, C_i, H/s_i, W/s_i], s = 4, 8, 16, 32."""
        x, H, W = self.patch_embed(x)
        outs = []
        for i, layer in enumerate(self.layers):
            out, x, Hn, Wn = layer(x, H, W)
            out = getattr(self, f"norm{i}")(out)
            outs.append(out.view(out.shape[0], H, W, -1).permute(0, 3, 1, 2).contiguous())
            H, W = Hn, Wn
        return outs
