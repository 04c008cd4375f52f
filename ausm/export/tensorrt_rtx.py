"""TensorRT for RTX: engines for desktop RTX and workstation GPUs, built ahead of time.

    python -m ausm.export.tensorrt_rtx --checkpoint demo.safetensors --out ~/.cache/ausm/engines
    python -m ausm.export.tensorrt_rtx --onnx step.onnx --out step.engine --targets 8.6,12.0
    python -m ausm.export.tensorrt_rtx ... --targets current | all | 8.0,8.9 [--force-rebuild]

TensorRT for RTX (PyPI ``tensorrt-rtx-cu12-libs`` + ``tensorrt-rtx-cu12-bindings``, imported
as ``tensorrt_rtx_bindings``) splits the build in two: the ahead-of-time (AOT) build here
parses the exported step and optimises the graph for a list of target compute capabilities
without needing a GPU (so CI builds real engines); kernels are compiled just in time on
the GPU at first run and kept in a *runtime cache* beside the engine
(``<engine>.<gpu>-sm<cc>.rtcache``), so later starts skip that compilation.

Unlike full TensorRT, TensorRT-RTX is strongly typed: there is no fp16 builder flag, every
tensor keeps the type the ONNX file gives it. The exported step is fp32, so the engine is
fp32 throughout and every state tensor is fp32 (``check_engine_io`` asserts it).

The cache key (``RtxEngineKey``) is the sha256 of the ONNX file (graph and weights), the
TensorRT-RTX version, the sorted target compute capabilities, the input size and our
builder version; the engine file is named from it, and its JSON sidecar stores the key and
the engine's I/O as the builder's network declared it. At run time any cached engine whose
key matches and whose targets include the GPU's capability is used.

Targets are those TensorRT-RTX 1.7 accepts: 7.5, 8.0, 8.6, 8.9, 12.0, 12.1. Hopper (9.0)
and Jetson (8.7) are not among them: those use the full TensorRT path
(``tensorrt_builder.py``). 7.5 (Turing) is not in the default list because its build of
this model fails: TensorRT-RTX has no fp32 GEMM for Turing ("FP32 GEMM is not supported").

The SSM node ``ausm::SelectiveStateUpdate`` is expanded into standard ONNX ops
(``ssm_op.inline_nodes``) before parsing; see the README for why the fused plugin cannot
take part in a TensorRT-RTX build from these wheels.
"""

import argparse
import dataclasses
import hashlib
import json
import logging
import re
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import onnx

from ..config import parse_size
from . import ssm_op
from .engine_cache import _atomic_write, read_sidecar, sidecar
from .onnx_export import file_sha256
from .step_io import StepSpec
from .tensorrt_support import TensorRTUnavailable

log = logging.getLogger(__name__)

PACKAGES = "tensorrt-rtx-cu12-libs and tensorrt-rtx-cu12-bindings"
# Bump when the builder changes what it produces for the same inputs.
RTX_BUILDER_VERSION = 1
# "major.minor" -> name of the member of tensorrt_rtx_bindings.ComputeCapability
TARGET_NAMES = {"7.5": "SM75", "8.0": "SM80", "8.6": "SM86", "8.9": "SM89", "12.0": "SM120", "12.1": "SM121"}
# 7.5 left out: TensorRT-RTX 1.7 cannot compile this fp32 model for Turing (no fp32 GEMM there)
DEFAULT_TARGETS = ("8.0", "8.6", "8.9", "12.0", "12.1")
_DTYPES = {
    "float32": "float32",
    "float16": "float16",
    "bfloat16": "bfloat16",
    "int64": "int64",
    "int32": "int32",
    "bool": "bool",
    "int8": "int8",
    "uint8": "uint8",
}


class TensorRTRtxUnavailable(TensorRTUnavailable):
    """TensorRT for RTX (or a GPU it can run on) is missing."""


def import_tensorrt_rtx() -> types.ModuleType:
    """The ``tensorrt_rtx_bindings`` module, or TensorRTRtxUnavailable naming what to install."""
    try:
        import tensorrt_rtx_bindings
    except ImportError as e:
        raise TensorRTRtxUnavailable(
            f"the tensorrt_rtx backend needs TensorRT for RTX ({e}): pip install {PACKAGES} "
            "(pinned in requirements.txt). Without it use backend 'onnxruntime' or 'torch'."
        ) from e
    return tensorrt_rtx_bindings


def normalize_cc(cc) -> str:
    """'8.6', '86', 'sm86', 'SM_86', (8, 6) -> '8.6'; '120' -> '12.0'."""
    if isinstance(cc, (tuple, list)):
        return f"{int(cc[0])}.{int(cc[1])}"
    s = str(cc).strip().lower().replace("sm_", "").replace("sm", "")
    if "." in s:
        major, minor = s.split(".", 1)
        return f"{int(major)}.{int(minor)}"
    if not s.isdigit() or len(s) < 2:
        raise ValueError(f"compute capability '{cc}' not understood (e.g. 8.6 or sm86)")
    return f"{int(s[:-1])}.{int(s[-1])}"


def is_rtx_target(cc) -> bool:
    return normalize_cc(cc) in TARGET_NAMES


def parse_targets(text: Optional[str], current_cc: Optional[str] = None) -> Tuple[str, ...]:
    """'8.6,12.0' | 'all' (the defaults) | 'current' (the visible GPU) | None (the visible
    GPU when it is a TensorRT-RTX target, else the defaults) -> sorted unique 'M.m' tuple."""
    if text in (None, "", "auto"):
        if current_cc and is_rtx_target(current_cc):
            return (normalize_cc(current_cc),)
        return DEFAULT_TARGETS
    if text == "all":
        return DEFAULT_TARGETS
    if text == "current":
        if not current_cc:
            raise TensorRTRtxUnavailable(
                "targets 'current' need a visible NVIDIA GPU; name the "
                f"targets instead (e.g. --targets {','.join(DEFAULT_TARGETS)})"
            )
        text = current_cc
    ccs = sorted(
        {normalize_cc(t) for t in str(text).split(",") if t.strip()}, key=lambda c: tuple(map(int, c.split(".")))
    )
    bad = [c for c in ccs if c not in TARGET_NAMES]
    if bad or not ccs:
        raise ValueError(
            f"compute capabilities {bad or text!r} are not TensorRT-RTX targets (it builds "
            f"for {', '.join(TARGET_NAMES)}; Hopper 9.0 and Jetson 8.7 need full TensorRT)"
        )
    return tuple(ccs)


def visible_gpu() -> Optional[Tuple[str, str]]:
    """(name, 'major.minor') of GPU 0 when one is visible (PyTorch or nvidia-smi), else None."""
    from .tensorrt_support import gpu_identity

    try:
        return gpu_identity()
    except TensorRTUnavailable:
        return None


@dataclass(frozen=True)
class RtxEngineKey:
    model_sha256: str  # of the ONNX file: graph and weights
    tensorrt_rtx_version: str
    targets: Tuple[str, ...]  # sorted compute capabilities, 'M.m'
    input_hw: Tuple[int, int]
    ssm: str = "decomposed"  # how the SSM node was built ("decomposed" ops)
    builder_version: int = RTX_BUILDER_VERSION

    def to_dict(self) -> Dict:
        d = dataclasses.asdict(self)
        d["targets"], d["input_hw"] = list(self.targets), list(self.input_hw)
        return d

    @classmethod
    def from_dict(cls, d: Dict) -> "RtxEngineKey":
        d = dict(d)
        d["targets"], d["input_hw"] = tuple(d["targets"]), tuple(d["input_hw"])
        return cls(**d)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    def filename(self) -> str:
        sm = "-".join(c.replace(".", "") for c in self.targets)
        h, w = self.input_hw
        return f"ausm-step-{h}x{w}-sm{sm}-rtx{self.tensorrt_rtx_version}-{self.digest()[:16]}.engine"

    def same_model(self, other: "RtxEngineKey") -> bool:
        """Everything but the targets equal: an engine for ``other`` serves this model."""
        return dataclasses.replace(self, targets=()) == dataclasses.replace(other, targets=())


@dataclass
class RtxEngineResult:
    path: Path
    key: RtxEngineKey
    built: bool  # False: found in the cache
    build_seconds: float = 0.0
    io: Dict[str, Tuple[Tuple[int, ...], str, bool]] = field(default_factory=dict)

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size


def runtime_cache_path(engine_path, gpu_name: str, cc: str) -> Path:
    """The runtime (JIT kernel) cache beside the engine, one per GPU model: TensorRT-RTX
    rejects a cache made on another GPU or driver, so GPUs sharing a cache directory must
    not overwrite each other's."""
    gpu = re.sub(r"[^A-Za-z0-9]+", "-", gpu_name).strip("-").lower() or "gpu"
    return Path(f"{engine_path}.{gpu}-sm{normalize_cc(cc).replace('.', '')}.rtcache")


def atomic_write(path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, bytes(data))
    return path


# -- building --------------------------------------------------------------------------------


def dtype_name(trt, dtype) -> str:
    name = str(dtype).split(".")[-1].lower()
    table = {
        "float": "float32",
        "half": "float16",
        "bf16": "bfloat16",
        "int64": "int64",
        "int32": "int32",
        "bool": "bool",
        "int8": "int8",
        "uint8": "uint8",
        "bfloat16": "bfloat16",
    }
    return table.get(name, name)


def network_io(network, trt) -> Dict[str, Tuple[Tuple[int, ...], str, bool]]:
    """{name: (shape, dtype, is_input)} of a parsed network: what the engine binds."""
    io = {}
    for i in range(network.num_inputs):
        t = network.get_input(i)
        io[t.name] = (tuple(int(d) for d in t.shape), dtype_name(trt, t.dtype), True)
    for i in range(network.num_outputs):
        t = network.get_output(i)
        io[t.name] = (tuple(int(d) for d in t.shape), dtype_name(trt, t.dtype), False)
    return io


def check_engine_io(io: Dict, contract: Dict) -> None:
    """Raise ValueError listing every way ``io`` differs from the step's I/O contract
    (``step_io.io_contract``): names, shapes, dtypes, direction; every state fp32."""
    problems = []
    for name in sorted(set(contract) - set(io)):
        problems.append(f"missing {name}")
    for name in sorted(set(io) - set(contract)):
        problems.append(f"unexpected {name}")
    for name in sorted(set(io) & set(contract)):
        got, want = io[name], contract[name]
        if tuple(got[0]) != tuple(want[0]) or got[1] != want[1] or bool(got[2]) != bool(want[2]):
            problems.append(
                f"{name}: {tuple(got[0])} {got[1]} {'in' if got[2] else 'out'}, "
                f"expected {tuple(want[0])} {want[1]} {'in' if want[2] else 'out'}"
            )
        if "state." in name and got[1] != "float32":
            problems.append(f"{name}: recurrent state must be float32, is {got[1]}")
    if problems:
        raise ValueError("engine I/O does not match the step's contract: " + "; ".join(problems))


def build_serialized_rtx(
    onnx_model: onnx.ModelProto, targets: Sequence[str], trt=None
) -> Tuple[bytes, Dict[str, Tuple[Tuple[int, ...], str, bool]]]:
    """Parse (SSM node expanded into standard ops) and build for ``targets``; no GPU needed.
    Returns (engine bytes, network I/O)."""
    trt = trt or import_tensorrt_rtx()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # strongly typed, explicit batch: no flags
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(ssm_op.inline_nodes(onnx_model).SerializeToString()):
        errors = "\n".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT-RTX could not parse the ONNX step:\n{errors}")
    io = network_io(network, trt)
    config = builder.create_builder_config()
    config.num_compute_capabilities = len(targets)
    for i, cc in enumerate(targets):
        if not config.set_compute_capability(getattr(trt.ComputeCapability, TARGET_NAMES[cc]), i):
            raise RuntimeError(f"TensorRT-RTX refused target compute capability {cc}")
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise RuntimeError(f"TensorRT-RTX failed to build the engine for {', '.join(targets)} (its log above says why)")
    return bytes(engine), io


def find_cached(cache_dir, key: RtxEngineKey, cc: Optional[str] = None) -> Optional[Path]:
    """A cached engine for ``key``'s model: with ``cc``, any whose targets include it (an
    engine built for several GPUs serves each); without, exactly ``key``."""
    cache_dir = Path(cache_dir)
    exact = cache_dir / key.filename()
    if cc is None:
        meta = read_sidecar(exact)
        return exact if exact.is_file() and meta and meta.get("key") == key.to_dict() else None
    cc = normalize_cc(cc)
    for meta_path in sorted(cache_dir.glob("*.engine.json")):
        meta = read_sidecar(meta_path.with_suffix(""))
        try:
            other = RtxEngineKey.from_dict(meta["key"])
        except (TypeError, KeyError, ValueError):
            continue  # another builder's sidecar, or a damaged one
        engine = meta_path.with_suffix("")
        if engine.is_file() and other.same_model(key) and cc in other.targets:
            return engine
    return None


def build_rtx_engine(
    onnx_path, cache_dir=None, engine_path=None, targets=None, force_rebuild: bool = False, for_cc: Optional[str] = None
) -> RtxEngineResult:
    """The TensorRT-RTX engine for ``onnx_path``: from the cache when one matches, else built
    (on the CPU; no GPU needed) and stored atomically with its sidecar. ``targets``: a list of
    compute capabilities or a ``parse_targets`` string. ``for_cc``: accept any cached engine
    of this model whose targets include that capability (the runtime's lookup)."""
    if (cache_dir is None) == (engine_path is None):
        raise ValueError("give a cache directory or an engine path")
    trt = import_tensorrt_rtx()
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise FileNotFoundError(f"ONNX file {onnx_path} does not exist")
    if targets is None or isinstance(targets, str):
        gpu = visible_gpu()
        targets = parse_targets(targets, gpu[1] if gpu else None)
    else:
        targets = parse_targets(",".join(targets))
    spec = StepSpec.from_onnx(onnx_path)
    key = RtxEngineKey(
        model_sha256=file_sha256(onnx_path),
        tensorrt_rtx_version=trt.__version__,
        targets=tuple(targets),
        input_hw=tuple(spec.input_hw),
    )
    path = Path(engine_path) if engine_path is not None else Path(cache_dir) / key.filename()
    if not force_rebuild:
        if engine_path is not None:
            meta = read_sidecar(path)
            hit = path if path.is_file() and meta and meta.get("key") == key.to_dict() else None
        else:
            hit = find_cached(cache_dir, key, for_cc) if for_cc else find_cached(cache_dir, key)
        if hit is not None:
            log.info("TensorRT-RTX engine cache hit: %s", hit)
            meta = read_sidecar(hit)
            io = {k: (tuple(v[0]), v[1], v[2]) for k, v in meta.get("io", {}).items()}
            return RtxEngineResult(hit, RtxEngineKey.from_dict(meta["key"]), False, 0.0, io)
    log.info(
        "building TensorRT-RTX engine %s for compute capabilities %s (%s)",
        path.name,
        ", ".join(targets),
        "forced" if force_rebuild else "not cached",
    )
    t0 = time.perf_counter()
    engine, io = build_serialized_rtx(onnx.load(str(onnx_path)), targets, trt)
    seconds = time.perf_counter() - t0
    atomic_write(path, engine)
    meta = {
        "key": key.to_dict(),
        "digest": key.digest(),
        "step": spec.metadata(),
        "io": {k: [list(v[0]), v[1], v[2]] for k, v in io.items()},
        "build_seconds": round(seconds, 3),
        "engine_bytes": len(engine),
    }
    # the sidecar last: a reader that sees it also sees the whole engine
    atomic_write(sidecar(path), (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
    log.info("built %s: %.1f MiB in %.1f s", path.name, len(engine) / 2**20, seconds)
    return RtxEngineResult(path, key, True, seconds, io)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m ausm.export.tensorrt_rtx",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--onnx", help="the exported step (python -m ausm.export.onnx_export)")
    src.add_argument(
        "--checkpoint", help="export this checkpoint first (cached), then build; default: the bundled demo checkpoint"
    )
    p.add_argument(
        "--input-size", type=parse_size, help="model input WxH, with --checkpoint when its config has no input_size"
    )
    p.add_argument("--out", required=True, help="engine cache directory, or an .engine file")
    p.add_argument(
        "--targets",
        default=None,
        help="compute capabilities: '8.6,12.0', 'all' ("
        + ",".join(DEFAULT_TARGETS)
        + "), 'current' (this GPU); default: this GPU if it is a target, else all",
    )
    p.add_argument("--force-rebuild", action="store_true", help="build even when the cache has it")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        onnx_path = args.onnx
        if not onnx_path:
            from ..checkpoint import load_checkpoint
            from .onnx_cache import cached_step_onnx

            checkpoint = args.checkpoint
            if not checkpoint:
                checkpoint = str(Path(__file__).resolve().parents[1] / "checkpoints" / "demo_tiny.safetensors")
            hw = args.input_size[::-1] if args.input_size else None  # WxH on the command line
            onnx_path = cached_step_onnx(load_checkpoint(checkpoint).eval(), hw, progress=True)
        out = Path(args.out).expanduser()
        as_file = out.suffix in (".engine", ".plan", ".trt")
        res = build_rtx_engine(
            onnx_path,
            cache_dir=None if as_file else out,
            engine_path=out if as_file else None,
            targets=args.targets,
            force_rebuild=args.force_rebuild,
        )
    except (TensorRTUnavailable, FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    h, w = res.key.input_hw
    print(
        f"{res.path}  ({'built in %.1f s' % res.build_seconds if res.built else 'cached'}; "
        f"{res.size_bytes / 2**20:.1f} MiB; TensorRT-RTX {res.key.tensorrt_rtx_version}; "
        f"compute capabilities {', '.join(res.key.targets)}; {h}x{w}; key {res.key.digest()[:16]})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
