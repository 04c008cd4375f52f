"""Temporal state-space layers: ``mamba1`` (selective scan) and ``mamba2`` (SSD).

Both share one interface:
    forward(u [B, L, D], state=None) -> (y, state)   whole sequence or a segment
    step(u [B, D], state) -> (y, state)               one time step
    allocate_state(batch, device) / state_shapes(batch)
"""

from .mamba1 import Mamba
from .mamba2 import Mamba2

SSM_TYPES = {"mamba1": Mamba, "mamba2": Mamba2}


def build_ssm(kind, d_model, **kwargs):
    if kind not in SSM_TYPES:
        raise ValueError(f"unknown ssm '{kind}', expected one of {sorted(SSM_TYPES)}")
    return SSM_TYPES[kind](d_model, **kwargs)


__all__ = ["Mamba", "Mamba2", "build_ssm", "SSM_TYPES"]
