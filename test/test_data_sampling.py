"""Clip sampling, clip-shared augmentation, corrupt-sample skipping and
multi-dataset mixing, on small in-memory sources."""

from typing import Sequence

import numpy as np
import pytest

from ausm_eval.errors import CorruptSampleError
from ausm_train.data import (
    NO_CATEGORY,
    ClipAugment,
    ClipDataset,
    ColorJitter,
    CorruptSample,
    MixedClipDataset,
    SkipCorrupt,
    VideoClip,
    VideoSource,
    apply_color,
    collate_clips,
    sample_clip_indices,
)


class ToySource(VideoSource):
    """Videos whose frame t has value 10*t, one square instance per video that is
    present only in even frames; video 'broken' raises CorruptSampleError."""

    def __init__(self, name="toy", lengths=(20, 3, 7), classes=(), broken=()):
        self.name = name
        self.class_names = list(classes)
        self.lengths = list(lengths)
        self.broken = set(broken)
        self.loads = []

    def __len__(self):
        return len(self.lengths)

    def video_name(self, index):
        return f"{self.name}{index}"

    def num_frames(self, index):
        return self.lengths[index]

    def load(self, index, frames: Sequence[int] | None = None, rng=None):
        frames = self._frame_indices(index, frames)
        self.loads.append((index, list(frames)))
        if index in self.broken:
            raise CorruptSampleError("broken on purpose", self.name, self.video_name(index))
        h, w = 16, 20
        images = np.stack([np.full((h, w, 3), 10 * f, np.uint8) for f in frames])
        masks = np.zeros((2, len(frames), h, w), bool)
        for t, f in enumerate(frames):
            if f % 2 == 0:
                masks[0, t, 2:8, 2:6] = True
        category = 0 if self.class_names else NO_CATEGORY
        return VideoClip(
            images, masks, [1, 2], [category, category], self.name, self.video_name(index), [f"{f:05d}" for f in frames]
        )


def test_sample_clip_indices():
    rng = np.random.default_rng(0)
    for _ in range(50):
        idx = sample_clip_indices(30, 5, 3, rng)
        assert len(idx) == 5 and np.all(np.diff(idx) == 3) and 0 <= idx[0] and idx[-1] < 30
    strides = {int(np.diff(sample_clip_indices(100, 4, (1, 3), rng))[0]) for _ in range(60)}
    assert strides == {1, 2, 3}
    # Stride shrinks to fit; a too-short video repeats frames evenly.
    assert sample_clip_indices(5, 3, 4, rng) == [0, 2, 4]
    assert sample_clip_indices(2, 4, 1, rng) == [0, 0, 1, 1]
    assert sample_clip_indices(1, 3, 2, rng) == [0, 0, 0]


def test_clip_dataset_is_deterministic_per_seed_epoch_index():
    ds = ClipDataset(ToySource(), clip_len=4, stride=(1, 2), seed=5)
    a, b = ds[0], ds[0]
    assert a.frame_names == b.frame_names
    names_epoch0 = [ds[0].frame_names for _ in range(3)]
    starts = set()
    for epoch in range(8):
        ds.set_epoch(epoch)
        starts.add(tuple(ds[0].frame_names))
    assert len(starts) > 1 and all(n == names_epoch0[0] for n in names_epoch0)
    with pytest.raises(IndexError):
        ds[3]


def test_clip_dataset_drops_absent_and_caps_instances():
    ds = ClipDataset(ToySource(), clip_len=3)
    clip = ds[1]  # 3-frame video: frames 0, 1, 2
    assert clip.frame_names == ["00000", "00001", "00002"]
    assert clip.instance_ids.tolist() == [1]  # instance 2 never appears
    kept = ClipDataset(ToySource(), clip_len=3, drop_absent=False)[1]
    assert kept.num_instances == 2
    capped = ClipDataset(ToySource(), clip_len=3, drop_absent=False, max_instances=1)[1]
    assert capped.num_instances == 1


def test_augmentation_is_shared_across_the_clip():
    frames = np.zeros((3, 24, 32, 3), np.uint8)
    frames[:, :, :16] = (200, 60, 20)  # identical frames, left half coloured
    masks = np.zeros((1, 3, 24, 32), bool)
    masks[0, :, :, :16] = True
    clip = VideoClip(frames, masks, [1], [0], "d", "v", ["a", "b", "c"])
    aug = ClipAugment(output_size=(20, 20), hflip_prob=0.5, scale_range=(0.7, 1.4), color=ColorJitter())
    flips = set()
    for seed in range(12):
        out = aug(clip, np.random.default_rng(seed))
        assert out.frames.shape == (3, 20, 20, 3) and out.masks.shape == (1, 3, 20, 20)
        # Same draw for every frame: identical input frames stay identical.
        assert (out.frames[0] == out.frames[1]).all() and (out.frames[1] == out.frames[2]).all()
        assert (out.masks[:, 0] == out.masks[:, 2]).all()
        # Masks followed the geometry: masked pixels are the coloured ones.
        inside = out.frames[0][out.masks[0, 0]]
        outside = out.frames[0][~out.masks[0, 0]]
        if inside.size and outside.size:
            assert inside[:, 0].min() > outside[:, 0].max()
        if out.masks[0, 0].any() and not out.masks[0, 0].all():
            cols = np.flatnonzero(out.masks[0, 0].any(axis=0))
            flips.add(bool(cols[0] > 0 and cols[-1] == 19))
    assert flips == {True, False}  # both orientations were drawn


def test_scale_below_one_pads():
    clip = VideoClip(np.full((1, 10, 10, 3), 255, np.uint8), np.ones((1, 1, 10, 10), bool), [1], [0], "d", "v", ["a"])
    out = ClipAugment(output_size=(10, 10), hflip_prob=0, scale_range=(0.5, 0.5), color=None)(
        clip, np.random.default_rng(0)
    )
    assert out.masks.sum() == 25 and (out.frames[0][~out.masks[0, 0]] == 0).all()


def test_color_jitter_identity_and_effect():
    frames = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    same = apply_color(frames, 1.0, 1.0, 1.0, 0.0)
    assert np.abs(same.astype(int) - frames).max() <= 1
    darker = apply_color(frames, 0.5, 1.0, 1.0, 0.0)
    assert darker.mean() < 0.6 * frames.mean()
    grey = apply_color(frames, 1.0, 1.0, 0.0, 0.0)
    assert np.abs(grey[..., 0].astype(int) - grey[..., 2]).max() <= 1


def test_skip_corrupt_returns_a_marker():
    ds = SkipCorrupt(ClipDataset(ToySource(broken={2}), clip_len=2))
    assert isinstance(ds[0], VideoClip)
    marker = ds[2]
    assert marker == CorruptSample("toy", "toy2", "broken on purpose")
    with pytest.raises(CorruptSampleError):
        ClipDataset(ToySource(broken={2}), clip_len=2)[2]
    batch = collate_clips([ds[0], marker, ds[1]])
    assert len(batch) == 2 and batch.corrupt == [marker]
    tensor = collate_clips([ds[0], ds[1]]).frames_tensor()
    assert tuple(tensor.shape) == (2, 2, 3, 16, 20)


def test_mixing_follows_weights_and_keeps_dataset_names():
    a = ClipDataset(ToySource("alpha", classes=("x", "y")), clip_len=2)
    b = ClipDataset(ToySource("beta"), clip_len=2)
    mix = MixedClipDataset([a, b], weights=[3, 1], length=800, seed=1)
    assert mix.class_heads() == {"alpha": 2, "beta": 0}
    picks = [mix.pick(i)[0] for i in range(800)]
    assert 0.70 < picks.count(0) / 800 < 0.80
    clip = mix[0]
    assert clip.dataset == ["alpha", "beta"][picks[0]]
    assert mix[5].frame_names == mix[5].frame_names  # reproducible by index
    mix.set_epoch(1)
    assert a.epoch == 1 and b.epoch == 1
    with pytest.raises(ValueError, match="unique"):
        MixedClipDataset([a, ClipDataset(ToySource("alpha"), clip_len=2)])
    with pytest.raises(ValueError):
        MixedClipDataset([a, b], weights=[0, 0])


def test_dataloader_workers_keep_the_error_type():
    torch = pytest.importorskip("torch")
    loader = torch.utils.data.DataLoader(
        ClipDataset(ToySource(broken={0}), clip_len=2), batch_size=1, num_workers=1, collate_fn=collate_clips
    )
    with pytest.raises(CorruptSampleError):
        next(iter(loader))
    loader = torch.utils.data.DataLoader(
        SkipCorrupt(ClipDataset(ToySource(broken={0}), clip_len=2)),
        batch_size=3,
        num_workers=1,
        collate_fn=collate_clips,
    )
    batch = next(iter(loader))
    assert len(batch.corrupt) == 1 and len(batch.clips) == 2
