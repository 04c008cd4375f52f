"""One object, one id: two tracks whose ID rows converge on the same object are merged: the
track started later goes (a discovered one before a prompted one), two prompted tracks stay."""

import numpy as np
import torch
from helpers.scripted import ScriptedRunner

from ausm.session import StreamSession

GRID = 8  # mask grid of a 32x32 input


def square(r, c):
    m = torch.zeros(GRID, GRID, dtype=torch.bool)
    m[r : r + 3, c : c + 3] = True
    return m


A, B = square(0, 0), square(4, 4)


class ConvergingRows(ScriptedRunner):
    """Detection rows report ``detect[t]`` (a list of masks); from frame ``converge_at`` on
    every allocated ID row outputs A, before that its own history mark."""

    def __init__(self, detect, converge_at):
        super().__init__(input_size=[32, 32], num_ids=4, num_det_queries=2)
        self.detect, self.converge_at = detect, converge_at

    def rows(self, id_masks, id_valid):
        S, nd = self.config.num_ids, self.config.num_det_queries
        rows = torch.zeros(S + nd, GRID, GRID, dtype=torch.bool)
        for k in range(S):
            if id_valid[0, k]:
                rows[k] = A if self.t >= self.converge_at else id_masks[0, k] > 0.5
        for j, m in enumerate(self.detect.get(self.t, [])):
            rows[S + j] = m
        return rows


FRAME = np.zeros((32, 32, 3), np.uint8)
PIXELS = lambda m: np.kron(m.numpy(), np.ones((4, 4), bool))  # grid mask -> 32x32 image mask


def run(session, frames):
    return [session.step(FRAME) for _ in range(frames)]


def test_two_discovered_tracks_on_one_object_keep_the_older_id():
    session = StreamSession(ConvergingRows({0: [A, B]}, converge_at=2))
    results = run(session, 4)
    assert sorted(results[0].track_ids) == [1, 2] and sorted(results[1].track_ids) == [1, 2]
    assert list(results[2].track_ids) == [1] and list(results[2].released_track_ids) == [2]
    assert list(results[3].track_ids) == [1]


def test_merging_can_be_switched_off():
    session = StreamSession(ConvergingRows({0: [A, B]}, converge_at=2), duplicate_iou=1.01)
    assert sorted(run(session, 3)[2].track_ids) == [1, 2]


def test_a_prompted_track_outlives_an_older_discovered_one():
    session = StreamSession(ConvergingRows({0: [A]}, converge_at=2), discovery=True)
    first = session.step(FRAME)  # discovers A as track 1
    session.update_settings(discovery=False)
    prompted = session.add_object(mask=PIXELS(B), image_size=(32, 32))
    run(session, 1)
    merged = session.step(FRAME)
    assert list(first.track_ids) == [1] and prompted == 2
    assert list(merged.track_ids) == [2] and list(merged.released_track_ids) == [1]


def test_two_prompted_tracks_are_both_kept():
    session = StreamSession(ConvergingRows({}, converge_at=1), discovery=False)
    ids = [session.add_object(mask=PIXELS(m), image_size=(32, 32)) for m in (A, B)]
    results = run(session, 3)
    assert sorted(results[-1].track_ids) == sorted(ids)
