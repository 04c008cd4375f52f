"""Bad frames and prompts raise ValueError naming the problem; the session stays usable."""

import numpy as np
import pytest
import torch

from ausm import build_model
from ausm.session import StreamSession

H, W = 48, 64


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("tiny", input_size=[64, 96]).eval()


def good(seed=0):
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


nan_frame = np.full((H, W, 3), 0.5, np.float32)
nan_frame[3, 4, 1] = np.nan

BAD_FRAMES = {
    "HxWx3": np.zeros((H, W), np.uint8),
    "3 channels": np.zeros((H, W, 4), np.uint8),
    "empty": np.zeros((0, W, 3), np.uint8),
    "dtype": np.zeros((H, W, 3), np.int16),
    "NaN": nan_frame,
    r"\[0, 1\]": np.full((H, W, 3), 255.0, np.float32),
    "numpy array": [[[0, 0, 0]]],
}


@pytest.mark.parametrize("problem", list(BAD_FRAMES))
def test_bad_frames_raise_and_leave_the_session_untouched(model, problem):
    s = StreamSession(model, foreground_threshold=0.3)
    s.step(good(0))
    before = [t.clone() for t in s._state], s.tracks.to_dict(), s.frame_index
    with pytest.raises(ValueError, match=problem):
        s.step(BAD_FRAMES[problem])
    assert all(torch.equal(a, b) for a, b in zip(before[0], s._state))
    assert s.tracks.to_dict() == before[1] and s.frame_index == before[2]
    assert s.step(good(1)).frame_index == 1


BAD_PROMPTS = [
    ("outside the image", dict(box=[10, 10, 70, 20])),
    ("empty or outside", dict(box=[30, 10, 20, 20])),
    ("point outside the image", dict(points=[[10, 60]])),
    ("NaN", dict(points=[[np.nan, 3]])),
    ("does not match the image size", dict(mask=np.ones((H + 1, W), bool))),
    ("selects no pixels", dict(mask=np.zeros((H, W), bool))),
    ("only negative points", dict(points=[[5, 5]], point_labels=[0])),
    ("point labels must be", dict(points=[[5, 5]], point_labels=[2])),
    ("2 points but 1 point labels", dict(points=[[5, 5], [6, 6]], point_labels=[1])),
    ("needs a mask, a box or points", dict()),
    ("out of range", dict(box=[0, 0, 5, 5], track_id=0)),
    ("out of range", dict(box=[0, 0, 5, 5], track_id=2**32)),
]


@pytest.mark.parametrize("problem,kwargs", BAD_PROMPTS, ids=[p for p, _ in BAD_PROMPTS])
def test_bad_prompts_raise_and_queue_nothing(model, problem, kwargs):
    s = StreamSession(model, discovery=False)
    s.step(good(0))
    with pytest.raises(ValueError, match=problem):
        s.add_object(**kwargs)
    assert s._pending == [] and s.tracks.next_id == 1
    assert s.add_object(box=[0, 0, 10, 10]) == 1
    s.step(good(1))
    assert s.tracks.slot_of(1) is not None


def test_unknown_id_and_full_buffer(model):
    s = StreamSession(model, discovery=False)
    s.step(good(0))
    with pytest.raises(ValueError, match="unknown object id 5"):
        s.refine_object(5, box=[0, 0, 4, 4])
    for i in range(model.config.num_ids):
        s.add_object(box=[0, 0, 4 + i, 4])
    with pytest.raises(ValueError, match="no free ID slot"):
        s.add_object(box=[0, 0, 4, 4])
    s.step(good(1))
