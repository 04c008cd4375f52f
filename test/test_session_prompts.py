"""Prompts, discovery settings and FrameResult of StreamSession (real tiny model, small input)."""

import numpy as np
import pytest
import torch

from ausm import build_model
from ausm.prompts import Prompt, PromptAction
from ausm.session import StreamSession

H, W = 64, 96  # frames given to the session
GRID = (16, 24)  # 1/4 mask grid of the 64x96 model input


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("tiny", input_size=[64, 96]).eval()


class Spy:
    """Records what the session feeds the model's step (the history for each frame)."""

    def __init__(self, model):
        self.model, self.calls = model, []
        self._step = model.step

    def __enter__(self):
        def step(frame, state, slots, masks, valid, **kw):
            self.calls.append((masks[0].clone(), valid[0].clone()))
            return self._step(frame, state, slots, masks, valid, **kw)

        self.model.step = step
        return self

    def __exit__(self, *exc):
        del self.model.step


def frame(seed=0, hw=(H, W)):
    return np.random.default_rng(seed).integers(0, 256, (*hw, 3), dtype=np.uint8)


def quiet_session(model, **kw):
    """No discovery, objects always present (mask threshold below every logit)."""
    kw = {"discovery": False, "presence_threshold": 0.0, "mask_threshold": -1e9, **kw}
    return StreamSession(model, **kw)


def test_box_prompt_is_painted_into_the_history_of_the_next_frame(model):
    s = quiet_session(model, box_cut="box")
    s.step(frame(0))
    oid = s.add_object(box=[8, 4, 40, 30])
    assert oid == 1
    with Spy(model) as spy:
        res = s.step(frame(1))
    masks, valid = spy.calls[0]
    slot = s.tracks.slot_of(oid)
    assert valid.tolist() == [i == slot for i in range(len(valid))]
    m = masks[slot]
    # the box covers grid cols 2..10 and rows 1..7.5: full cells inside, half cells at y2
    assert m[1:7, 2:10].min() == 1.0 and m[7, 2:10].eq(0.5).all()
    assert m.sum().item() == pytest.approx(32 * 26 / 16)
    assert list(res.track_ids) == [oid] and res.is_new.tolist() == [True]
    assert res.track_ids.dtype == np.uint32 and res.masks.shape == (1, H, W)
    # next frame the mark comes from the model's own output, and the track is no longer new
    with Spy(model) as spy:
        res = s.step(frame(2))
    assert res.is_new.tolist() == [False] and spy.calls[0][0][slot].min() == 1.0


def test_points_add_and_cut_discs(model):
    s = quiet_session(model, point_radius=8)
    oid = s.add_object(points=[[48, 32], [60, 32]], point_labels=[1, 0], image_size=(H, W))
    with Spy(model) as spy:
        s.step(frame(0))
    m = spy.calls[0][0][s.tracks.slot_of(oid)]
    assert m[8, 11] == 1.0  # grid cell x 44..48, y 32..36: inside the positive disc
    assert m[8, 15] == 0.0  # inside the negative disc at x=60
    assert m[0].sum() == 0 and m[:, :6].sum() == 0
    # refine: a negative point on the object cuts a hole into its current mask
    s.refine_object(oid, points=[[44, 32]], point_labels=[0])
    with Spy(model) as spy:
        s.step(frame(1))
    assert spy.calls[0][0][s.tracks.slot_of(oid)][8, 11] == 0.0


def test_requested_ids_duplicates_unknown_ids_and_remove(model):
    s = quiet_session(model)
    s.step(frame(0))
    assert s.add_object(box=[0, 0, 20, 20], track_id=2) == 2
    assert s.add_object(box=[30, 0, 50, 20]) == 1
    assert s.add_object(box=[60, 0, 80, 20]) == 3  # 2 is taken: skipped
    with pytest.raises(ValueError, match="already tracked"):
        s.add_object(box=[0, 30, 20, 50], track_id=2)
    with pytest.raises(ValueError, match="unknown object id 9"):
        s.refine_object(9, box=[0, 0, 5, 5])
    with pytest.raises(ValueError, match="unknown object id 9"):
        s.remove_object(9)
    res = s.step(frame(1))
    assert sorted(res.track_ids.tolist()) == [1, 2, 3] and res.is_new.all()
    s.remove_object(2)
    res = s.step(frame(2))
    assert sorted(res.track_ids.tolist()) == [1, 3] and res.released_track_ids.tolist() == [2]
    assert s.tracks.slot_of(2) is None and s.tracks.num_free() == model.config.num_ids - 2
    assert s.add_object(box=[0, 0, 20, 20]) == 4  # ids never repeat


def test_reset_forgets_the_stream_but_not_the_id_counter(model):
    s = quiet_session(model)
    s.add_object(box=[0, 0, 20, 20], image_size=(H, W))
    s.step(frame(0))
    s.prompt(Prompt(PromptAction.RESET))
    assert s.tracks.active.sum() == 0 and s.state_bytes() == 0 and s.frame_index == 0
    res = s.step(frame(1))
    assert len(res) == 0
    assert s.add_object(box=[0, 0, 20, 20]) == 2


def test_prompt_before_first_frame_needs_an_image_size(model):
    s = quiet_session(model)
    with pytest.raises(ValueError, match="image size"):
        s.add_object(box=[0, 0, 10, 10])
    mask = np.zeros((H, W), bool)
    mask[10:20, 10:30] = True
    assert s.add_object(mask=mask) == 1  # a mask carries its own size
    assert list(s.step(frame(0)).track_ids) == [1]


def test_discovery_switch_threshold_and_top_k(model):
    off = StreamSession(model, discovery=False, foreground_threshold=0.0)
    assert len(off.step(frame(0))) == 0
    on = StreamSession(
        model, discovery=True, foreground_threshold=0.0, top_k=2, new_object_max_overlap=1.0, mask_threshold=-1e9
    )
    res = on.step(frame(0))
    assert res.track_ids.tolist() == [1, 2] and res.is_new.all()
    strict = StreamSession(model, discovery=True, foreground_threshold=1.0)
    assert len(strict.step(frame(0))) == 0


def test_absent_objects_are_released_and_their_slot_reused(model):
    s = quiet_session(model, presence_threshold=1.1, prompted_presence_threshold=1.1, release_after_frames=2)
    oid = s.add_object(box=[0, 0, 20, 20], image_size=(H, W))
    released = []
    for t in range(4):
        with Spy(model) as spy:
            released += s.step(frame(t)).released_track_ids.tolist()
        if t == 1:  # absent: its mark is cleared although the ID stays allocated
            slot = s.tracks.slot_of(oid)
            assert spy.calls[0][1][slot] and spy.calls[0][0][slot].sum() == 0
    assert released == [oid]
    assert s.tracks.num_free() == model.config.num_ids
    assert s.tracks.free[-1] == 0  # the freed slot goes to the back of the queue


def test_a_prompted_object_is_present_at_its_own_threshold(model):
    """A prompted track is judged by ``prompted_presence_threshold``, a discovered one by
    ``presence_threshold``: at objectness thresholds 0 and 1.1, on the frame after they
    started, only the prompted one is reported (discovery may start others there)."""

    def tracks_on_second_frame(**kw):
        s = quiet_session(
            model,
            discovery=True,
            foreground_threshold=0.0,
            top_k=1,
            new_object_max_overlap=1.0,  # every mask is the whole frame at this mask threshold
            duplicate_iou=2.0,
            presence_threshold=1.1,
            **kw,
        )
        prompted = s.add_object(box=[0, 0, 20, 20], image_size=(H, W))
        found = [t for t in s.step(frame(0)).track_ids.tolist() if t != prompted]
        assert len(found) == 1  # one discovered track beside the prompted one
        return prompted, found[0], s.step(frame(1)).track_ids.tolist()

    prompted, discovered, shown = tracks_on_second_frame(prompted_presence_threshold=0.0)
    assert prompted in shown and discovered not in shown
    prompted, _, shown = tracks_on_second_frame(prompted_presence_threshold=1.1)
    assert prompted not in shown


def test_frame_result_at_input_size_with_consistent_boxes_and_labels(model):
    s = StreamSession(model, discovery=True, foreground_threshold=0.0, top_k=3)
    res = s.step(frame(0, hw=(50, 70)))
    assert res.image_size == (50, 70) and res.masks.shape[1:] == (50, 70)
    assert res.masks.dtype == bool and res.boxes.dtype == np.float32
    assert len(res) >= 1
    for m, b in zip(res.masks, res.boxes):
        ys, xs = np.nonzero(m)
        assert b.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    assert ((0 <= res.scores) & (res.scores <= 1)).all()
    assert ((0 <= res.class_ids) & (res.class_ids < 8)).all()
    label = res.label_image()
    assert set(np.unique(label)) <= set(res.track_ids.tolist()) | {0}
    assert np.array_equal(label > 0, res.masks.any(0))
