"""The ID buffer: N_id learned D-vectors. An object tracked in a stream owns one slot;
its vector marks the object's pixels in the history and is its query in the mask decoder."""

import torch
import torch.nn as nn


class IDBuffer(nn.Module):
    INIT_STD = 1.0

    def __init__(self, num_ids, dim):
        super().__init__()
        # std 1: an ID vector is added to the 1/8 features (history marker) and is its
        # query's content and position; at the former std 0.14 its marks were faint next
        # to features of unit scale, and the model learned to ignore the history.
        self.vectors = nn.Parameter(torch.randn(num_ids, dim) * self.INIT_STD)

    def forward(self, slots):
        """slots: [..., K] long buffer indices (entries < 0 are padding) -> [..., K, D]."""
        return self.vectors[slots.clamp(min=0)]
