"""From the ``data`` section of a training config to a dataset of clips, and the
order in which a run consumes it.

Every item is a pure function of (seed, epoch, index) (see ausm_train.data), so the
data position of a run is one number: how many micro-batches it has taken. A resumed
run starts its sampler there and sees exactly the clips it would have seen.
"""

from __future__ import annotations

import numpy as np

from ausm_train.data import (
    ClipAugment,
    ClipDataset,
    CocoPseudoVideoSource,
    ColorJitter,
    DavisSource,
    JpegArtifacts,
    MixedClipDataset,
    MOSESource,
    OVISSource,
    SAVPngSource,
    SAVSource,
    SkipCorrupt,
    YouTubeVISSource,
    YouTubeVOSSource,
)
from ausm_train.realdata.composite import CompositeConfig, RealCompositeSource
from ausm_train.synthetic import SyntheticConfig, SyntheticVideoSource

SOURCES = {
    "davis": DavisSource,
    "ytvos": YouTubeVOSSource,
    "mose": MOSESource,
    "ytvis": YouTubeVISSource,
    "ovis": OVISSource,
    "coco": CocoPseudoVideoSource,
    "sav": SAVSource,
    "sav_png": SAVPngSource,
}


# Generated sources: kind -> (config type, source type); their YAML ``config`` lists become tuples.
GENERATED = {
    "synthetic": (SyntheticConfig, SyntheticVideoSource),
    "real_composite": (CompositeConfig, RealCompositeSource),
}


def generated_source(kind, args):
    config_type, source_type = GENERATED[kind]
    args = dict(args)
    cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in args.pop("config", {}).items()}
    return source_type(config_type(**cfg), **args)


def build_source(spec):
    kind = spec.get("kind")
    args = dict(spec.get("args", {}))
    if kind in GENERATED:
        return generated_source(kind, args)
    if kind not in SOURCES:
        raise ValueError(f"unknown data source kind {kind!r}; known: {', '.join(sorted({*GENERATED, *SOURCES}))}")
    return SOURCES[kind](**args)


def build_dataset(cfg):
    """cfg: DataConfig -> SkipCorrupt(MixedClipDataset) of clips of one size."""
    if not cfg.sources:
        raise ValueError("data.sources is empty: nothing to train on")
    augment = None
    if cfg.augment or cfg.output_size is not None:
        augment = ClipAugment(
            output_size=tuple(cfg.output_size) if cfg.output_size else None,
            hflip_prob=cfg.hflip_prob if cfg.augment else 0.0,
            scale_range=tuple(cfg.scale_range) if cfg.augment else (1.0, 1.0),
            color=ColorJitter() if cfg.augment and cfg.color_jitter else None,
            jpeg=JpegArtifacts(cfg.jpeg_prob, tuple(cfg.jpeg_quality)) if cfg.augment and cfg.jpeg_prob > 0 else None,
        )
    datasets, weights = [], []
    for spec in cfg.sources:
        unknown = set(spec) - {"kind", "weight", "args"}
        if unknown:
            raise ValueError(f"unknown keys in a data source: {sorted(unknown)}")
        datasets.append(
            ClipDataset(
                build_source(spec),
                cfg.clip_len,
                tuple(cfg.stride),
                augment=augment,
                max_instances=cfg.max_instances,
                seed=cfg.seed,
            )
        )
        weights.append(float(spec.get("weight", 1.0)))
    return SkipCorrupt(MixedClipDataset(datasets, weights, length=cfg.epoch_length, seed=cfg.seed))


class EpochItems:
    """Dataset view indexed by (epoch, index): the epoch travels with the index, so
    DataLoader workers (which hold their own copy of the dataset) draw the right clip."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, key):
        epoch, index = key
        self.dataset.set_epoch(epoch)
        return self.dataset[index]


class ResumableBatches:
    """Micro-batches from position ``start`` on, for process ``rank`` of ``world``:
    micro-batch m holds global items m*B*world + rank*B + j (j < B), items wrapping
    into the next epoch. Yields lists of (epoch, index)."""

    def __init__(self, length, batch_size, rank=0, world=1, start=0, stop=None):
        self.length, self.batch_size, self.rank, self.world = length, batch_size, rank, world
        self.start, self.stop = start, stop

    def batch(self, m):
        first = (m * self.world + self.rank) * self.batch_size
        return [divmod(g, self.length) for g in range(first, first + self.batch_size)]

    def __iter__(self):
        m = self.start
        while self.stop is None or m < self.stop:
            yield self.batch(m)
            m += 1

    def __len__(self):
        return (self.stop - self.start) if self.stop is not None else np.iinfo(np.int64).max
