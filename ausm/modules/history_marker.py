"""History Marker (the paper's Token Mark).

Each pixel of the previous frame's feature map receives the mask-weighted mean of the
ID vectors covering it, S = sum_i M_i A_i / (eps + sum_i M_i), and the compressor's
input is E_t = X_{t-1} + S_t. At t = 1, X_0 is a learned start token broadcast over the
map, so prompts given at the first frame are painted onto it the same way.
"""

import torch
import torch.nn as nn


class HistoryMarker(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.start_token = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def start(self, batch, h, w):
        """X_0: [batch, D, h, w]."""
        return self.start_token.view(1, -1, 1, 1).expand(batch, -1, h, w)

    def forward(self, x_prev, ids, masks, valid):
        """x_prev: [B, D, h, w] (1/8); ids: [B, K, D]; masks: [B, K, h', w'] in [0, 1], any
        resolution that is an integer multiple of (h, w) (normally the 1/4 mask grid);
        valid: [B, K] bool. Returns E = x_prev + S, [B, D, h, w]."""
        h, w = x_prev.shape[-2:]
        m = masks.to(x_prev.dtype)
        if m.shape[-2:] != (h, w):
            rh, rw = m.shape[-2] // h, m.shape[-1] // w
            if (rh * h, rw * w) != tuple(m.shape[-2:]):
                raise ValueError(f"mask grid {tuple(m.shape[-2:])} is not a multiple of the feature grid {(h, w)}")
            # area average: a feature cell half covered by the mask gets weight one half
            m = m.unflatten(-1, (w, rw)).unflatten(-3, (h, rh)).mean((-3, -1))
        m = m * valid.to(m.dtype)[..., None, None]
        num = torch.einsum("bkhw,bkd->bdhw", m, ids.to(x_prev.dtype))
        return x_prev + num / (self.eps + m.sum(1, keepdim=True))
