"""ID lifecycle over very long streams: slots are freed and reused, track ids never repeat."""

import numpy as np
import torch
import torch.nn as nn

from ausm import load_config
from ausm.session import StreamSession
from ausm.tracks import TrackTable

GRID = 8  # mask grid of the scripted model (input 32x32 -> 1/4 = 8x8)
CELLS = 16  # 2x2 blocks of the grid, one object per cell
BORN_EVERY, LIFETIME = 3, 10


def cell_mask(c):
    m = torch.zeros(GRID, GRID, dtype=torch.bool)
    r, q = divmod(c % CELLS, 4)
    m[2 * r : 2 * r + 2, 2 * q : 2 * q + 2] = True
    return m


class ScriptedWorld(nn.Module):
    """Stands in for AUSM: objects appear in their own cell every BORN_EVERY frames and
    vanish LIFETIME frames later. An ID row follows whatever object its history mark
    covers; detection rows report every object alive. Cheap enough for 100k frames."""

    def __init__(self, num_ids=6, num_det=4):
        super().__init__()
        self.config = load_config("tiny", input_size=[32, 32], num_ids=num_ids, num_det_queries=num_det)
        self.dummy = nn.Parameter(torch.zeros(1))
        self.t = 0
        self.cells = [cell_mask(c) for c in range(CELLS)]

    @staticmethod
    def mask_size(hw):
        return hw[0] // 4, hw[1] // 4

    def initial_state(self, batch, hw, device=None):
        return [torch.zeros(1)]

    def alive(self, t):
        first = max(0, (t - LIFETIME) // BORN_EVERY + 1)
        return [b for b in range(first, t // BORN_EVERY + 1) if b * BORN_EVERY <= t]

    def step(self, frame, state, id_slots, id_masks, id_valid):
        S, nd = self.config.num_ids, self.config.num_det_queries
        alive = self.alive(self.t)
        alive_cells = torch.zeros(CELLS, dtype=torch.bool)
        alive_cells[[b % CELLS for b in alive]] = True
        # which cells each ID row's history mark touches, keeping only living objects
        marked = (id_masks[0] > 0).view(S, 4, 2, 4, 2).any(4).any(2).view(S, CELLS)
        follows = marked & alive_cells & id_valid[0, :, None]  # [S, CELLS]
        det = torch.zeros(nd, CELLS, dtype=torch.bool)
        for j, b in enumerate(alive[:nd]):
            det[j, b % CELLS] = True
        rows = torch.cat([follows, det])  # [Q, CELLS]
        cells = rows.view(-1, 4, 1, 4, 1).expand(-1, 4, 2, 4, 2).reshape(-1, GRID, GRID)
        logits = torch.where(cells, 5.0, -5.0)
        obj = torch.where(rows.any(1), 5.0, -5.0)
        self.t += 1
        out = {
            "mask_logits": logits[None],
            "objectness_logits": obj[None],
            "class_logits": {"synthetic": torch.zeros(1, S + nd, 8)},
        }
        return out, state


def test_track_table_100k_frames_of_objects_coming_and_going():
    table = TrackTable(num_slots=5)
    rng = np.random.default_rng(0)
    owner = {}  # slot -> remaining life of its object
    last_id, started = 0, 0
    for _frame in range(100_000):
        present = np.zeros(5, dtype=bool)
        for slot in list(owner):
            owner[slot] -= 1
            present[slot] = owner[slot] > 0
        for slot, _ in table.update_presence(present, release_after_frames=3):
            del owner[slot]
        if rng.random() < 0.3 and table.num_free():
            tid = table.new_track_id()
            assert tid == last_id + 1  # increasing: never repeats
            last_id = tid
            owner[table.allocate(tid)] = int(rng.integers(1, 20))
            started += 1
        assert table.active.sum() + table.num_free() == 5
    assert started > 25_000 and table.next_id == started + 1


def test_session_100k_frames_never_runs_out_of_ids():
    world = ScriptedWorld(num_ids=6)
    session = StreamSession(world, release_after_frames=2, foreground_threshold=0.5)
    frame = np.zeros((32, 32, 3), dtype=np.uint8)
    track_of = {}  # object (birth index) -> track id
    seen_ids = set()
    for t in range(100_000):
        res = session.step(frame)
        alive = world.alive(t)
        # every object alive is reported, each under one track id for its whole life
        assert len(res) == len(alive), t
        by_cell = {}
        for tid, m, new in zip(res.track_ids, res.masks, res.is_new):
            ys, xs = np.nonzero(m)
            by_cell[(ys[0] // 8) * 4 + xs[0] // 8] = (int(tid), bool(new))
        for b in alive:
            tid, new = by_cell[b % CELLS]
            if b not in track_of:
                assert new and tid not in seen_ids, (t, b, tid)
                track_of[b] = tid
                seen_ids.add(tid)
            else:
                assert tid == track_of[b] and not new, (t, b)
        track_of.pop(min(track_of), None) if len(track_of) > 8 else None
    n_objects = 100_000 // BORN_EVERY + 1
    assert len(seen_ids) == n_objects and max(seen_ids) == n_objects
    assert session.tracks.num_free() + int(session.tracks.active.sum()) == 6
