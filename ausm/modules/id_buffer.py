"""The ID buffer: N_id learned D-vectors. An object tracked in a stream owns one slot;
its vector marks the object's pixels in the history and is its query in the mask decoder."""
import torch
import torch.nn as nn


class IDBuffer(nn.Module):
    def __init__(self, num_ids, dim):
        super().__init__()
        self.vectors = nn.Parameter(torch.randn(num_ids, dim) * 0.02 ** 0.5)

    def forward(self, slots):
        """slots: [..., K] long buffer indices (entries < 0 are padding) -> [..., K, D]."""
        return self.vectors[slots.clamp(min=0)]
