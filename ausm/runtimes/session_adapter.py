"""Run a StreamSession on any step runner, keeping the session logic in one place.

``StreamSession`` (ausm/session.py) owns prompts, IDs, history masks and results, and
asks its model for four things only: ``config``, the device of its parameters,
``mask_size`` / ``initial_state``, and ``step``. ``RunnerModel`` answers them from the
real AUSM except ``step`` (and the initial state), which go to a runner: torch,
onnxruntime or TensorRT. So every backend shares one implementation of the stream
semantics, and a backend is only a different way to compute one frame.
"""

import torch

from ..session import StreamSession


class RunnerModel:
    """Stands in for AUSM inside StreamSession; ``step`` is the runner's."""

    def __init__(self, model, runner):
        self._model = model
        self.runner = runner
        self.config = model.config
        # a zero-size tensor: StreamSession reads its device from the model's parameters
        self._device_marker = torch.empty(0, device=runner.device)

    def eval(self):
        return self

    def parameters(self):
        return iter([self._device_marker])

    def initial_state(self, batch, hw, device=None):
        if batch != 1:
            raise ValueError("runners serve one stream per call (batch 1)")
        return self.runner.initial_state(tuple(hw))

    def step(self, frame, state, id_slots, id_masks, id_valid, all_layers=False):
        if all_layers:
            raise ValueError(f"the {self.runner.name} runner returns the final layer only")
        return self.runner.step(frame, state, id_slots, id_masks, id_valid)

    def __getattr__(self, name):
        if name == "_model":  # not yet set (copy / unpickle): no recursion through here
            raise AttributeError(name)
        # shapes and sizes (mask_size, feature_size, state_names, ...) are the model's
        return getattr(self._model, name)


def stream_session(model, runner, settings=None, **overrides):
    """A StreamSession over ``model`` whose frames are computed by ``runner``."""
    return StreamSession(RunnerModel(model, runner), settings, **overrides)
