"""On-disk cache of TensorRT engines.

An engine is only valid for the exact graph and weights, the TensorRT version that built
it, the GPU it was built on and the input shape; it also depends on our build choices
(precision, whether the SSM plugin was used). ``EngineKey`` holds all of these; its
digest names the file, and a JSON sidecar next to the engine records the key (and the
step's I/O metadata, so the runtime needs no ONNX file). A lookup hits only when the
sidecar's key equals the wanted key; ``force_rebuild`` ignores hits.
"""

import dataclasses
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Tuple

log = logging.getLogger(__name__)
# Bump when the builder changes what it produces for the same inputs (flags, precision rules).
BUILDER_VERSION = 1


@dataclass(frozen=True)
class EngineKey:
    model_sha256: str  # of the ONNX file: graph and weights
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    input_hw: Tuple[int, int]
    precision: str  # "fp16" (fp32 SSM region) or "fp32"
    plugin_sha256: str = ""  # the SSM plugin library used, "" when the SSM ran as ONNX ops
    builder_version: int = BUILDER_VERSION

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["input_hw"] = list(self.input_hw)
        return d

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        d["input_hw"] = tuple(d["input_hw"])
        return cls(**d)

    def digest(self):
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    def filename(self):
        gpu = re.sub(r"[^A-Za-z0-9]+", "-", self.gpu_name).strip("-").lower() or "gpu"
        h, w = self.input_hw
        return (
            f"{gpu}-sm{self.compute_capability.replace('.', '')}-{h}x{w}-{self.precision}-"
            f"trt{self.tensorrt_version}-{self.digest()[:16]}.engine"
        )


def sidecar(engine_path):
    return Path(str(engine_path) + ".json")


def read_sidecar(engine_path):
    try:
        return json.loads(sidecar(engine_path).read_text())
    except (OSError, ValueError):
        return None


def _atomic_write(path, data):
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # a reader never sees a half-written engine


class EngineCache:
    """``directory`` holds engines named by their key; ``engine_path`` (optional) pins one
    explicit file instead (the CLI's ``--out x.engine``), still guarded by its sidecar."""

    def __init__(self, directory=None, engine_path=None):
        if (directory is None) == (engine_path is None):
            raise ValueError("give a cache directory or an engine path")
        self.directory = Path(directory) if directory is not None else None
        self.engine_path = Path(engine_path) if engine_path is not None else None

    def path_for(self, key):
        return self.engine_path or self.directory / key.filename()

    def lookup(self, key):
        """The cached engine's path when it exists and was built for exactly ``key``."""
        path = self.path_for(key)
        meta = read_sidecar(path)
        if path.is_file() and meta and meta.get("key") == key.to_dict():
            return path
        return None

    def store(self, key, engine_bytes, step_metadata):
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, bytes(engine_bytes))
        meta = {"key": key.to_dict(), "digest": key.digest(), "step": dict(step_metadata)}
        _atomic_write(sidecar(path), (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
        return path


def build_or_load(key, cache, build, step_metadata, force_rebuild=False):
    """The engine for ``key``: the cached one, or ``build()`` (-> engine bytes) stored in the
    cache. Returns (path, built)."""
    if not force_rebuild:
        hit = cache.lookup(key)
        if hit:
            log.info("TensorRT engine cache hit: %s", hit)
            return hit, False
    log.info("building TensorRT engine %s (%s)", cache.path_for(key).name, "forced" if force_rebuild else "not cached")
    return cache.store(key, build(), step_metadata), True
