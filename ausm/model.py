"""AUSM: Autoregressive Universal Segmentation Model (Heo et al., 2025, arXiv 2508.19242).

Per frame t:
  X_t, mask features = pixel_decoder(backbone(I_t))          X_t at 1/8, features at 1/4
  E_t = X_{t-1} + TokenMark(ID vectors, masks M_{t-1})        history marker
  F_t = compressor(E_1..E_t)                                  SSM over time + spatial attn
  G_t = history_decoder(X_t, F_t)
  outputs = mask_decoder([ID queries; detection queries], [G_t, 1/32, 1/16], mask features)

Two paths over the same weights:
  * ``forward_clip``: T frames in one pass with teacher-forced history (training);
  * ``step``: one frame and the recurrent state as plain tensors (streaming, ONNX export).

The recurrent state is a flat list of tensors (see ``state_names``):
  prev_x [B, D, h, w]  then per compressor layer its SSM's (conv_state, ssm_state),
  each with batch B*h*w (one recurrence per pixel of the 1/8 map).
ID rows are addressed through ``id_slots`` (indices into the ID buffer, < 0 = padding)
with a validity mask, so the object count is a fixed tensor dimension.
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn

from .backbones import build_backbone
from .config import ModelConfig, load_config
from .modules import HistoryCompressor, HistoryDecoder, HistoryMarker, IDBuffer, MaskDecoder, PixelDecoder
from .modules.layers import sine_position_embedding


@dataclass
class History:
    """Teacher-forced history of a clip. For frame t: which ID slots are allocated
    (``id_slots`` [B, T, K] long, < 0 = padding; ``id_valid`` [B, T, K] bool) and their
    masks from frame t-1 (``id_masks`` [B, T, K, H/4, W/4] in [0, 1]; at t = 0, the prompts).
    ``id_current`` [B, T, K] bool, when given, marks masks that are already of frame t
    (prompts); the others are carried to frame t by ``ausm.propagation.align_history``."""

    id_slots: torch.Tensor
    id_masks: torch.Tensor
    id_valid: torch.Tensor
    id_current: Optional[torch.Tensor] = None

    @staticmethod
    def empty(batch: int, frames: int, mask_hw: Tuple[int, int], device=None) -> "History":
        return History(
            torch.full((batch, frames, 0), -1, dtype=torch.long, device=device),
            torch.zeros(batch, frames, 0, *mask_hw, device=device),
            torch.zeros(batch, frames, 0, dtype=torch.bool, device=device),
        )


State = List[torch.Tensor]
Outputs = Dict[str, Any]  # mask_logits, class_logits {head: ...}, objectness_logits


class AUSM(nn.Module):
    def __init__(self, config: Union[ModelConfig, str]):
        super().__init__()
        cfg = config if isinstance(config, ModelConfig) else load_config(config)
        self.config = cfg
        D = cfg.hidden_dim
        self.backbone = build_backbone(cfg.backbone, **cfg.backbone_args)
        self.pixel_decoder = PixelDecoder(
            self.backbone.out_channels, D, cfg.pixel_decoder_layers, cfg.num_heads, cfg.ffn_dim
        )
        self.marker = HistoryMarker(D, cfg.marker_eps)
        self.compressor = HistoryCompressor(
            D, cfg.compressor_layers, cfg.num_heads, cfg.ffn_dim, cfg.ssm, cfg.ssm_args, cfg.dropout
        )
        self.history_decoder = HistoryDecoder(
            D, cfg.history_decoder_layers, cfg.num_heads, cfg.ffn_dim, cfg.history_decoder_self_attn, cfg.dropout
        )
        self.id_buffer = IDBuffer(cfg.num_ids, D)
        self.mask_decoder = MaskDecoder(
            D,
            cfg.mask_decoder_layers,
            cfg.num_heads,
            cfg.mask_decoder_ffn_dim,
            cfg.num_det_queries,
            cfg.num_classes,
            cfg.dropout,
        )
        self.register_buffer("pixel_mean", torch.tensor(cfg.pixel_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(cfg.pixel_std).view(1, 3, 1, 1), persistent=False)

    # -- shapes and state ----------------------------------------------------------
    @staticmethod
    def feature_size(hw: Tuple[int, int]) -> Tuple[int, int]:
        """(h, w) of the 1/8 map for a model input of size hw (a multiple of 32)."""
        return hw[0] // 8, hw[1] // 8

    @staticmethod
    def mask_size(hw: Tuple[int, int]) -> Tuple[int, int]:
        """(h, w) of the mask logits and history masks (1/4) for a model input of size hw."""
        return hw[0] // 4, hw[1] // 4

    def state_names(self) -> List[str]:
        return ["prev_x"] + [
            f"compressor.{i}.{k}" for i in range(len(self.compressor.layers)) for k in ("conv_state", "ssm_state")
        ]

    def state_shapes(self, batch: int, hw: Tuple[int, int]) -> List[Tuple[int, ...]]:
        h, w = self.feature_size(hw)
        return [(batch, self.config.hidden_dim, h, w)] + self.compressor.state_shapes(batch * h * w)

    def initial_state(self, batch: int, hw: Tuple[int, int], device: Optional[torch.device] = None) -> State:
        """The state before the first frame: X_0 = start token, SSM states zero."""
        h, w = self.feature_size(hw)
        prev_x = self.marker.start(batch, h, w).detach().clone().float()
        if device is not None:
            prev_x = prev_x.to(device)
        return [prev_x] + self.compressor.initial_state(batch * h * w, prev_x.device)

    def state_bytes(self, batch: int, hw: Tuple[int, int]) -> int:
        return sum(4 * torch.Size(s).numel() for s in self.state_shapes(batch, hw))

    # -- shared pieces -------------------------------------------------------------
    def encode(self, images: torch.Tensor) -> Tuple[List[torch.Tensor], torch.Tensor]:
        """images: [N, 3, H, W] RGB in [0, 1] -> (levels [1/32, 1/16, 1/8], mask features)."""
        x = (images * 255.0 - self.pixel_mean) / self.pixel_std
        return self.pixel_decoder(self.backbone(x))

    def _decode(self, x, f, levels, mask_features, id_queries, id_valid, id_masks):
        """x: current features [N, D, h, w]; f: compressed history [N, hw, D]."""
        n, D, h, w = x.shape
        pos = sine_position_embedding(h, w, D, x.device, x.dtype)
        g = self.history_decoder(x.flatten(2).transpose(1, 2), f, pos)
        g = g.transpose(1, 2).reshape(n, D, h, w)
        return self.mask_decoder(id_queries, id_valid, [g, levels[0], levels[1]], mask_features, id_masks)

    # -- training path -------------------------------------------------------------
    def forward_clip(
        self,
        frames: torch.Tensor,
        history: History,
        state: Optional[State] = None,
        return_state: bool = False,
    ) -> Union[Outputs, Tuple[Outputs, State]]:
        """frames: [B, T, 3, H, W] RGB in [0, 1]; history: ``History``; state: optional
        carried state (from ``initial_state`` / a previous clip).

        Returns a dict of per-prediction outputs, index 0 = before the first decoder layer,
        -1 = final (deep supervision):
          mask_logits       [L+1, B, T, Q, H/4, W/4]
          class_logits      {dataset: [L+1, B, T, Q, C]}
          objectness_logits [L+1, B, T, Q]
        with Q = K ID rows (history order) + N_det detection rows. With ``return_state``
        also the state after the last frame."""
        B, T = frames.shape[:2]
        levels, mask_features = self.encode(frames.flatten(0, 1))
        x = levels[2]  # [B*T, D, h, w]
        BT, D, h, w = x.shape
        x_seq = x.view(B, T, D, h, w)
        x0 = self.marker.start(B, h, w) if state is None else state[0].to(x.dtype)
        x_prev = torch.cat([x0.unsqueeze(1), x_seq[:, :-1]], dim=1).flatten(0, 1)

        ids = self.id_buffer(history.id_slots).flatten(0, 1)  # [B*T, K, D]
        valid = history.id_valid.flatten(0, 1)
        e = self.marker(x_prev, ids, history.id_masks.flatten(0, 1), valid)
        pos = sine_position_embedding(h, w, D, x.device, x.dtype)
        e = e.flatten(2).transpose(1, 2).reshape(B, T, h * w, D)
        f, ssm_state = self.compressor.forward_clip(e, pos, None if state is None else state[1:])
        outs = self._decode(x, f.flatten(0, 1), levels, mask_features, ids, valid, history.id_masks.flatten(0, 1))

        unflat = lambda t: t.unflatten(0, (B, T))
        result = {
            "mask_logits": torch.stack([unflat(o["mask_logits"]) for o in outs]),
            "class_logits": {
                k: torch.stack([unflat(o["class_logits"][k]) for o in outs]) for k in outs[0]["class_logits"]
            },
            "objectness_logits": torch.stack([unflat(o["objectness_logits"]) for o in outs]),
        }
        if return_state:
            return result, [x_seq[:, -1].float()] + ssm_state
        return result

    forward = forward_clip

    # -- streaming path ------------------------------------------------------------
    def step(
        self,
        frame: torch.Tensor,
        state: State,
        id_slots: torch.Tensor,
        id_masks: torch.Tensor,
        id_valid: torch.Tensor,
        all_layers: bool = False,
    ) -> Tuple[Union[Outputs, List[Outputs]], State]:
        """One frame. frame: [B, 3, H, W] RGB in [0, 1]; state: flat list from
        ``initial_state`` or the previous step; id_slots [B, K] long; id_masks
        [B, K, H/4, W/4]; id_valid [B, K] bool (masks are of the previous frame, or prompts).

        Returns (outputs, next_state); outputs has the final prediction
        (mask_logits [B, Q, H/4, W/4], class_logits {dataset: [B, Q, C]},
        objectness_logits [B, Q]), or the list of all layers' with ``all_layers``."""
        levels, mask_features = self.encode(frame)
        x = levels[2]
        B, D, h, w = x.shape
        ids = self.id_buffer(id_slots)
        e = self.marker(state[0].to(x.dtype), ids, id_masks, id_valid)
        pos = sine_position_embedding(h, w, D, x.device, x.dtype)
        f, ssm_state = self.compressor.step(e.flatten(2).transpose(1, 2), pos, state[1:])
        outs = self._decode(x, f, levels, mask_features, ids, id_valid, id_masks)
        return (outs if all_layers else outs[-1]), [x.float()] + ssm_state


def build_model(config: Union[str, ModelConfig] = "tiny", **overrides) -> AUSM:
    return AUSM(load_config(config, **overrides))
