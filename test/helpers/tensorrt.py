"""A stand-in TensorRT execution context for the runner tests, on the CPU: it reads inputs from,
and writes outputs to, the raw addresses the runner binds, computing the frame with
AUSM.step, so a wrongly bound buffer shows up as wrong results."""

import ctypes

import numpy as np
import torch

from ausm.export.step_io import FRAME_INPUTS, STATE_IN, STATE_OUT

CTYPES = {torch.float32: ctypes.c_float, torch.int64: ctypes.c_int64, torch.bool: ctypes.c_bool}


def tensor_at(address, shape, dtype):
    """A tensor viewing ``numel`` elements of ``dtype`` at a raw CPU address."""
    n = int(np.prod(shape))
    buf = (CTYPES[dtype] * n).from_address(address)
    return torch.from_numpy(np.ctypeslib.as_array(buf)).view(shape)


class FakeContext:
    def __init__(self, engine):
        self.engine, self.addresses, self.fail_next = engine, {}, False

    def set_tensor_address(self, name, address):
        assert name in self.engine.io, name
        self.addresses[name] = address

    def execute_async_v3(self, stream_handle):
        if self.fail_next:
            self.fail_next = False
            return False
        e = self.engine
        view = lambda name: tensor_at(self.addresses[name], *e.io[name][:2])
        image, slots, masks, valid = (view(n) for n in FRAME_INPUTS)
        state = [view(STATE_IN + n) for n in e.spec.state_names]
        with torch.no_grad():
            out, nxt = e.model.step(image, state, slots, masks, valid)
        view("mask_logits").copy_(out["mask_logits"])
        view("objectness_logits").copy_(out["objectness_logits"])
        for head, v in out["class_logits"].items():
            view(f"class_logits.{head}").copy_(v)
        for n, v in zip(e.spec.state_names, nxt):
            view(STATE_OUT + n).copy_(v)
        e.executions += 1
        return True
