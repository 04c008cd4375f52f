"""The TensorRT runner's state handling, on CPU: two state buffer sets swapped every frame,
no copy when the session hands back the runner's own state, one copy-in for a foreign
state (first frame, restore), and a failed frame leaving the session's state intact.

TensorRT is replaced by a fake execution context that works at the level TensorRT does:
it reads inputs from, and writes outputs to, the raw addresses the runner binds (here
CPU memory), computing the frame with AUSM.step. A wrongly bound buffer shows up as
wrong results."""

import numpy as np
import pytest
import torch
from helpers.tensorrt import FakeContext

from ausm import build_model
from ausm.export.step_io import STATE_IN, STATE_OUT, StepSpec
from ausm.runtimes import TensorRTStepRunner
from ausm.session import StreamSession
from bench.runtime_parity import moving_shapes

HW = (64, 96)


class FakeEngine:
    """What TensorRTStepRunner needs from TensorRTEngine, on the CPU."""

    def __init__(self, model):
        self.model, self.torch, self.device = model, torch, torch.device("cpu")
        self.spec = StepSpec(HW, model.state_names(), list(model.config.num_classes), model.config.to_dict())
        K, Q = model.config.num_ids, model.config.num_ids + model.config.num_det_queries
        mh, mw = model.mask_size(HW)
        self.io = {
            "image": ((1, 3, *HW), torch.float32, True),
            "id_slots": ((1, K), torch.int64, True),
            "id_masks": ((1, K, mh, mw), torch.float32, True),
            "id_valid": ((1, K), torch.bool, True),
            "mask_logits": ((1, Q, mh, mw), torch.float32, False),
            "objectness_logits": ((1, Q), torch.float32, False),
        }
        for head, c in model.config.num_classes.items():
            self.io[f"class_logits.{head}"] = ((1, Q, c), torch.float32, False)
        for n, shape in zip(model.state_names(), model.state_shapes(1, HW)):
            self.io[STATE_IN + n] = (tuple(shape), torch.float32, True)
            self.io[STATE_OUT + n] = (tuple(shape), torch.float32, False)
        self.engine = self
        self.executions = 0
        self.contexts = []

    def create_execution_context(self):
        self.contexts.append(FakeContext(self))
        return self.contexts[-1]

    def stream_handle(self):
        return 0


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("tiny", input_size=list(HW)).eval()


def buffer_set(runner, state):
    return runner._state_set(state)


def test_session_on_the_runner_equals_torch_and_swaps_buffers(model):
    runner = TensorRTStepRunner(FakeEngine(model))
    ref, sess = StreamSession(model), StreamSession(runner)
    ref.add_object(box=[10, 10, 50, 40], image_size=HW)
    sess.add_object(box=[10, 10, 50, 40], image_size=HW)
    sets = []
    for t in range(5):
        f = moving_shapes(t, HW)
        a, b = ref.step(f), sess.step(f)
        assert np.array_equal(a.track_ids, b.track_ids) and np.array_equal(a.masks, b.masks)
        assert all(torch.allclose(x, y, atol=1e-6) for x, y in zip(ref._state, sess._state))
        sets.append(buffer_set(runner, sess._state))
    # the session holds the runner's own buffers, alternating between the two sets
    assert sets == [1, 0, 1, 0, 1]


def test_restored_state_is_copied_in_once(model, tmp_path):
    engine = FakeEngine(model)
    a = StreamSession(TensorRTStepRunner(engine))
    for t in range(3):
        a.step(moving_shapes(t, HW))
    a.snapshot(tmp_path / "s.safetensors")
    runner = TensorRTStepRunner(engine)  # a new stream: its own context and buffers
    b = StreamSession(runner)
    b.restore(tmp_path / "s.safetensors")
    assert buffer_set(runner, b._state) is None  # a foreign state ...
    for t in range(3, 6):
        ra, rb = a.step(moving_shapes(t, HW)), b.step(moving_shapes(t, HW))
        assert np.array_equal(ra.masks, rb.masks)
    assert buffer_set(runner, b._state) is not None  # ... now lives in the runner's buffers
    assert all(torch.equal(x, y) for x, y in zip(a._state, b._state))
    assert len(engine.contexts) == 2


def test_failed_frame_leaves_the_session_state_intact(model):
    engine = FakeEngine(model)
    runner = TensorRTStepRunner(engine)
    sess = StreamSession(runner)
    sess.step(moving_shapes(0, HW))
    before = [t.clone() for t in sess._state]
    engine.contexts[0].fail_next = True
    with pytest.raises(RuntimeError, match="TensorRT execution failed"):
        sess.step(moving_shapes(1, HW))
    assert sess.frame_index == 1 and all(torch.equal(x, y) for x, y in zip(before, sess._state))
    ref = StreamSession(model)
    ref.step(moving_shapes(0, HW))
    ra, rb = ref.step(moving_shapes(1, HW)), sess.step(moving_shapes(1, HW))  # the stream goes on
    assert np.array_equal(ra.masks, rb.masks)


def test_engine_size_is_enforced(model):
    runner = TensorRTStepRunner(FakeEngine(model))
    with pytest.raises(ValueError, match="built for 64x96"):
        runner.initial_state((96, 128))
