"""Mask decoder (Mask2Former's masked-attention transformer decoder).

Queries are [ID vectors of the allocated objects; N_det learned detection queries].
Each layer: masked cross-attention to one feature level (round robin over
[G_t at 1/8, 1/32, 1/16]; G_t replaces Mask2Former's 1/8 pixel-decoder level), then
self-attention among queries, then FFN (post-norm, as Mask2Former). Every layer, and
the queries before the first layer, predict masks (dot product with the 1/4 mask
features), per-dataset class logits and a class-agnostic objectness logit: the deep
supervision outputs. A query attends only where its previous prediction is
foreground (all pixels if that is empty). Padded ID rows (valid = False) are hidden
from the other queries, so they cannot change any real output.

Why G_t first: it is the only input that knows where each tracked object is. In
Mask2Former's order ([1/32, 1/16, 1/8]) a 3-layer decoder would read it only in its last
layer, under an attention mask from predictions made before any history was seen, and
the ID rows learn to ignore it. With G_t first, layer 0 reads it; and since an ID row's "previous
prediction" before layer 0 is only its ID vector against the image (uninformed), its
first attention mask is instead its history mask (the object's mask on the previous
frame, or its prompt), downsampled to G_t and dilated by one cell for motion: the row
looks where its object was, where G_t carries its ID mark. An empty history mask
(object not visible) attends everywhere. Both the parallel and streaming paths pass the
same history masks, so they stay identical.

Mask prior (our addition; the paper does not say how an ID row's mask is formed beyond
Mask2Former's dot product): each ID row's mask logits also get ``gain(q) * (2 M - 1)``,
M its history mask at 1/4, with a gain the row predicts from its query. Without it the only
way for a row to output its object is to describe the object's appearance in the image
features; with a small backbone on real textures that fails even on the frame its mask was
given (measured: mean IoU 0.24 on the prompt frame, against the given mask). With it, a
row starts from where its object was and the dot product only has to correct for motion.
A row whose history mask is empty (object absent) gets no prior, so it can find its object
again anywhere. Checkpoints saved before the prior load with a zero gain: the function
they were trained as (ausm/checkpoint.py).
"""

from typing import Dict

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import FFN, MLP, Attention, sine_position_embedding

PRIOR_GAIN_INIT = 2.0
PRIOR_KEYS = ("mask_decoder.prior_gain.weight", "mask_decoder.prior_gain.bias")


class MaskDecoder(nn.Module):
    NUM_LEVELS = 3

    def __init__(
        self,
        dim: int,
        num_layers: int,
        num_heads: int,
        ffn_dim: int,
        num_det_queries: int,
        num_classes: Dict[str, int],
        dropout: float = 0.0,
    ):
        super().__init__()
        self.num_heads = num_heads
        self.det_feat = nn.Embedding(num_det_queries, dim)
        self.det_pos = nn.Embedding(num_det_queries, dim)
        self.level_embed = nn.Embedding(self.NUM_LEVELS, dim)
        self.cross_attn = nn.ModuleList(Attention(dim, num_heads, dropout) for _ in range(num_layers))
        self.self_attn = nn.ModuleList(Attention(dim, num_heads, dropout) for _ in range(num_layers))
        self.ffn = nn.ModuleList(FFN(dim, ffn_dim, dropout) for _ in range(num_layers))
        self.norm_cross = nn.ModuleList(nn.LayerNorm(dim) for _ in range(num_layers))
        self.norm_self = nn.ModuleList(nn.LayerNorm(dim) for _ in range(num_layers))
        self.norm_ffn = nn.ModuleList(nn.LayerNorm(dim) for _ in range(num_layers))
        self.decoder_norm = nn.LayerNorm(dim)
        self.class_heads = nn.ModuleDict({name: nn.Linear(dim, n) for name, n in num_classes.items()})
        self.objectness = nn.Linear(dim, 1)
        self.mask_embed = MLP(dim, dim, dim, 3)
        self.prior_gain = nn.Linear(dim, 1)
        nn.init.zeros_(self.prior_gain.weight)
        # Adam moves a parameter by about lr per step: a zero gain would need tens of
        # thousands of steps to matter, so it starts where the prior is already useful
        nn.init.constant_(self.prior_gain.bias, PRIOR_GAIN_INIT)

    def predict(self, q, mask_features, attn_size, prior=None):
        """Heads on the current queries, plus the attention mask for the next layer.
        prior: [B, K, H/4, W/4] in [-1, 1] for the first K (ID) rows, or None."""
        q = self.decoder_norm(q)
        masks = torch.einsum("bqc,bchw->bqhw", self.mask_embed(q), mask_features)
        if prior is not None:
            K = prior.shape[1]
            gain = self.prior_gain(q[:, :K]).unsqueeze(-1)  # [B, K, 1, 1]
            masks = torch.cat([masks[:, :K] + gain * prior, masks[:, K:]], dim=1)
        classes = {name: head(q) for name, head in self.class_heads.items()}
        objectness = self.objectness(q).squeeze(-1)
        # gradients do not flow through the attention mask (as in Mask2Former)
        small = F.interpolate(masks.detach(), size=attn_size, mode="bilinear", align_corners=False)
        attend = (small > 0).flatten(2)  # sigmoid > 0.5
        attend = attend | ~attend.any(-1, keepdim=True)  # empty -> attend all
        return {"mask_logits": masks, "class_logits": classes, "objectness_logits": objectness}, attend

    @staticmethod
    def history_attention(id_masks, size):
        """ID rows' first attention mask from their history masks [B, K, H/4, W/4] in
        [0, 1]: downsampled to ``size``, dilated by one cell; empty -> attend all."""
        small = F.interpolate(id_masks.detach().float(), size=size, mode="bilinear", align_corners=False)
        small = F.max_pool2d(small, 3, stride=1, padding=1)
        attend = (small > 0.5).flatten(2)
        return attend | ~attend.any(-1, keepdim=True)

    def forward(self, id_queries, id_valid, levels, mask_features, id_masks=None):
        """id_queries: [B, K, D]; id_valid: [B, K] bool; levels: [G_t, 1/32, 1/16] each
        [B, D, h, w], read in that order; mask_features: [B, D, H/4, W/4]; id_masks:
        [B, K, H/4, W/4] the ID rows' history masks (their first attention mask). Returns a
        list with one output dict per prediction (num_layers + 1), last = final."""
        B, K, D = id_queries.shape
        det_feat = self.det_feat.weight.unsqueeze(0).expand(B, -1, -1)
        det_pos = self.det_pos.weight.unsqueeze(0).expand(B, -1, -1)
        q = torch.cat([id_queries, det_feat], dim=1)
        # an ID vector is both the content and the positional identity of its query
        qpos = torch.cat([id_queries, det_pos], dim=1)
        key_ok = torch.cat([id_valid, id_valid.new_ones(B, det_feat.shape[1])], dim=1)
        self_mask = key_ok[:, None, None, :]  # [B, 1, 1, Q]

        memory = []
        for i, lvl in enumerate(levels):
            h, w = lvl.shape[-2:]
            pos = sine_position_embedding(h, w, D, lvl.device, lvl.dtype)
            memory.append((lvl.flatten(2).transpose(1, 2) + self.level_embed.weight[i], pos, (h, w)))

        prior = None
        if id_masks is not None and K > 0:
            m = id_masks.to(mask_features.dtype)
            prior = (2.0 * m - 1.0) * (m.flatten(2).amax(-1) > 0)[..., None, None]
        outputs = []
        out, attend = self.predict(q, mask_features, memory[0][2], prior)
        outputs.append(out)
        if prior is not None:
            attend = torch.cat([self.history_attention(id_masks, memory[0][2]), attend[:, K:]], dim=1)
        for i in range(len(self.cross_attn)):
            src, pos, _ = memory[i % self.NUM_LEVELS]
            q = self.norm_cross[i](q + self.cross_attn[i](q + qpos, src + pos, src, mask=attend.unsqueeze(1)))
            q = self.norm_self[i](q + self.self_attn[i](q + qpos, q + qpos, q, mask=self_mask))
            q = self.norm_ffn[i](q + self.ffn[i](q))
            out, attend = self.predict(q, mask_features, memory[(i + 1) % self.NUM_LEVELS][2], prior)
            outputs.append(out)
        return outputs
