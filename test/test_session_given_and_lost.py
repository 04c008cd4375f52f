"""What a caller gives is kept: an exact mask prompt is the object's output on its frame,
and a tracked object the network misses for a few frames keeps its (propagated) mark, so its
row can pick it up again, until it is released."""

import numpy as np
import torch
from helpers.scripted import ScriptedRunner

from ausm.session import StreamSession

SIZE, GRID = 32, 8


class BlindFrames(ScriptedRunner):
    """Propagation on: every allocated ID row outputs its own history mark, present, except
    on the ``blind`` frames, where it sees nothing."""

    def __init__(self, blind=(), always_blind=False):
        super().__init__(input_size=[SIZE, SIZE], num_ids=4, num_det_queries=2, history_propagation=2)
        self.blind, self.always_blind = set(blind), always_blind
        self.read = []  # the history masks each frame read, [S, GRID, GRID]

    def rows(self, id_masks, id_valid):
        S, nd = self.config.num_ids, self.config.num_det_queries
        self.read.append(id_masks[0].clone())
        rows = torch.zeros(S + nd, GRID, GRID, dtype=torch.bool)
        if not (self.always_blind or self.t in self.blind):
            rows[:S] = (id_masks[0] > 0.5) & id_valid[0, :, None, None]
        return rows


# a still, textured scene: colour propagation keeps a mask where it is
FRAME = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
MASK = np.zeros((SIZE, SIZE), bool)
MASK[8:20, 4:16] = True  # on the 1/4 grid: the scripted rows answer there


def test_a_given_mask_is_the_output_on_its_frame_points_are_not():
    session = StreamSession(BlindFrames(always_blind=True), discovery=False)
    tid = session.add_object(mask=MASK)
    result = session.step(FRAME)
    assert list(result.track_ids) == [tid] and np.array_equal(result.masks[0], MASK)
    # a point says where, not what: the (blind) network's answer stands
    point = session.add_object(points=[[10, 14]])
    assert point not in session.step(FRAME).track_ids


def test_a_given_mask_survives_a_snapshot_while_queued(tmp_path):
    a = StreamSession(BlindFrames(always_blind=True), discovery=False)
    a.step(FRAME)
    tid = a.add_object(mask=MASK)
    a.snapshot(tmp_path / "s.safetensors")
    b = StreamSession(BlindFrames(always_blind=True), discovery=False)
    b.restore(tmp_path / "s.safetensors")
    result = b.step(FRAME)
    assert list(result.track_ids) == [tid] and np.array_equal(result.masks[0], MASK)


def test_an_object_missed_for_two_frames_is_found_again_with_its_mask():
    runner = BlindFrames(blind={1, 2})
    session = StreamSession(runner, discovery=False, release_after_frames=5)
    tid = session.add_object(mask=MASK)
    results = [session.step(FRAME) for _ in range(5)]
    assert [list(r.track_ids) for r in results] == [[tid], [], [], [tid], [tid]]
    iou = (results[3].masks[0] & MASK).sum() / (results[3].masks[0] | MASK).sum()
    assert iou > 0.9, iou
    # while missed, the row still read its mark
    assert all(float(runner.read[t][0].sum()) > 0 for t in (2, 3))


def test_a_released_object_leaves_no_mark():
    runner = BlindFrames(blind={1, 2, 3})
    session = StreamSession(runner, discovery=False, release_after_frames=1)
    tid = session.add_object(mask=MASK)
    results = [session.step(FRAME) for _ in range(5)]
    assert tid in results[2].released_track_ids
    assert all(len(r.track_ids) == 0 for r in results[1:])
    assert float(runner.read[4].sum()) == 0.0
