"""Snapshot/restore of a stream continues bit-identically; bad snapshots are refused."""

import dataclasses

import numpy as np
import pytest
import torch

from ausm import build_model
from ausm.session import StreamSession


def frames(n, seed):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (60, 80, 3), dtype=np.uint8) for _ in range(n)]


def same(a, b):
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y), f.name
        else:
            assert x == y, f.name


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("tiny", input_size=[64, 96]).eval()


def test_restore_continues_bit_identically(model, tmp_path):
    a = StreamSession(model, foreground_threshold=0.4, top_k=3, release_after_frames=1)
    for f in frames(4, 0):
        a.step(f)
    a.add_object(box=[5, 5, 40, 30], track_id=77)  # pending at snapshot time
    a.snapshot(tmp_path / "s.safetensors")
    later = frames(6, 1)
    expect = [a.step(f) for f in later]
    assert any(len(r) for r in expect) and any(77 in r.track_ids for r in expect)

    b = StreamSession(model)  # other settings: restored too
    b.restore(tmp_path / "s.safetensors")
    got = [b.step(f) for f in later]
    for r1, r2 in zip(expect, got):
        same(r1, r2)
    assert all(torch.equal(x, y) for x, y in zip(a._state, b._state))
    assert b.state_bytes() == a.state_bytes() > 0
    assert b.tracks.to_dict() == a.tracks.to_dict()


def test_restore_keeps_each_objects_motion(model, tmp_path):
    # a square moving 5 px a frame, looked for within 3 px of its last shift: a restored
    # stream that forgot the last shift would look around no motion and fall behind
    moving = build_model("tiny", input_size=[64, 64], history_propagation=5, history_search=3).eval()
    rng = np.random.default_rng(5)
    background = rng.integers(0, 100, (64, 64, 3), dtype=np.uint8)
    texture = rng.integers(150, 256, (16, 16, 3), dtype=np.uint8)
    scene = []
    for t in range(8):
        f = background.copy()
        f[16:32, 4 + 5 * t : 20 + 5 * t] = texture
        scene.append(f)
    a = StreamSession(moving, discovery=False)
    a.add_object(box=[4, 16, 20, 32], track_id=3, image_size=(64, 64))
    for f in scene[:4]:
        a.step(f)
    assert a._motion == {3: (0, 5)}
    a.snapshot(tmp_path / "s.safetensors")
    b = StreamSession(moving)
    b.restore(tmp_path / "s.safetensors")
    for f in scene[4:]:
        same(a.step(f), b.step(f))
        assert torch.equal(a._masks, b._masks)


def test_snapshot_before_the_first_frame(model, tmp_path):
    a = StreamSession(model, discovery=False)
    a.snapshot(tmp_path / "empty.safetensors")
    b = StreamSession(model)
    b.restore(tmp_path / "empty.safetensors")
    assert b.settings.discovery is False and b.state_bytes() == 0
    f = frames(1, 2)[0]
    same(a.step(f), b.step(f))


def test_restore_refuses_other_models_and_non_snapshots(model, tmp_path):
    a = StreamSession(model)
    a.step(frames(1, 3)[0])
    a.snapshot(tmp_path / "s.safetensors")
    other = StreamSession(build_model("tiny", input_size=[64, 64]))
    with pytest.raises(ValueError, match="different model config.*input_size"):
        other.restore(tmp_path / "s.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a snapshot at all")
    with pytest.raises(ValueError, match="cannot read session snapshot"):
        a.restore(tmp_path / "junk.safetensors")
    # the failed restores left the session working
    assert a.step(frames(1, 4)[0]).frame_index == 1
