"""Which checkpoint, on which device, through which backend: ``open`` and the ``Runtime`` it returns.

Backends:
  * ``torch``: AUSM.step in PyTorch, on ``device``.
  * ``onnxruntime``: the exported step (``onnx_file``, or exported once from the checkpoint
    into the cache) on CPU; faster than torch on CPU (bench/backends.py: 1.1-1.4x per step
    with one thread for the tiny config at 256x192, 1.8x for the shipped demo model; see the
    README's Benchmarks).
  * ``tensorrt``: an engine built from the same ONNX file on this GPU, cached on disk
    (``cache_dir``, ``force_rebuild``); each stream's state stays on the GPU. Full
    TensorRT: Jetson (JetPack) and data-center GPUs.
  * ``tensorrt_rtx``: TensorRT for RTX (PyPI wheels), desktop RTX / workstation GPUs
    (compute capability 8.0, 8.6, 8.9, 12.x); the engine is built ahead of time (no GPU
    needed: ``python -m ausm.export.tensorrt_rtx``) or at first start when missing, and
    its JIT kernels are kept in a runtime cache beside it.
  * ``auto``: tensorrt_rtx on an RTX GPU where it is installed; else tensorrt when it can
    run here; else torch on a GPU; else onnxruntime.
``open`` falls back to torch, with a warning, when the backend asked for cannot run here
(package missing, no GPU), and to the CPU when CUDA is asked for but absent: never
silently. ``Runtime`` itself does no fallback: asked for a backend that cannot run, it
raises with the reason. Whatever the backend, streams are the same StreamSession
(prompts, IDs, results); only the per-frame computation differs.
"""

import copy
import functools
import logging
import os
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Union

import torch

from ..checkpoint import load_checkpoint
from ..export.onnx_cache import cache_root
from .base import StepRunner

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnxruntime", "tensorrt", "tensorrt_rtx")
AUTO = "auto"
Warn = Callable[[str], None]
PathLike = Union[str, os.PathLike]


def bundled_checkpoint() -> Path:
    """The demo checkpoint shipped inside the package."""
    path = Path(__file__).resolve().parents[1] / "checkpoints" / "demo_tiny.safetensors"
    if not path.exists():
        raise FileNotFoundError(
            f"the bundled demo checkpoint is missing ({path}); give a .safetensors checkpoint instead"
        )
    return path


def resolve_checkpoint(path: Optional[PathLike]) -> str:
    """'' (or None) means the bundled demo checkpoint; anything else must exist."""
    if not path:
        return str(bundled_checkpoint())
    path = os.path.expanduser(os.fspath(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint '{path}' does not exist")
    return path


def resolve_device(device: str, warn: Optional[Warn] = None) -> str:
    """'' / 'auto': cuda when PyTorch sees a GPU, else cpu. A CUDA device without CUDA falls
    back to cpu with ``warn``, or raises when no ``warn`` is given."""
    if device in ("", AUTO):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        if warn is None:
            raise RuntimeError(f"device '{device}' requested but CUDA is not available to PyTorch")
        warn(f"device '{device}' requested but CUDA is not available here; falling back to 'cpu'")
        return "cpu"
    return device


def backend_unavailable_reason(backend: str) -> Optional[str]:
    """None when ``backend`` can run on this machine, else why not."""
    if backend == "onnxruntime":
        from .onnxruntime_runner import OnnxRuntimeUnavailable, import_onnxruntime

        try:
            import_onnxruntime()
        except OnnxRuntimeUnavailable as e:
            return str(e)
    elif backend == "tensorrt":
        from ..export.tensorrt_support import TensorRTUnavailable, import_tensorrt, require_cuda_torch

        try:
            import_tensorrt()
            require_cuda_torch()
        except TensorRTUnavailable as e:
            return str(e)
    elif backend == "tensorrt_rtx":
        from ..export.tensorrt_rtx import import_tensorrt_rtx, is_rtx_target
        from ..export.tensorrt_support import TensorRTUnavailable, require_cuda_torch

        try:
            import_tensorrt_rtx()
            torch_cuda = require_cuda_torch()
        except TensorRTUnavailable as e:
            return str(e)
        major, minor = torch_cuda.cuda.get_device_capability(0)
        if not is_rtx_target(f"{major}.{minor}"):
            return (
                f"TensorRT-RTX does not run on {torch_cuda.cuda.get_device_name(0)} (compute "
                f"capability {major}.{minor}; it targets 8.0, 8.6, 8.9, 12.x)"
            )
    return None


def resolve_backend(backend: str, warn: Warn = log.warning, device: str = AUTO) -> str:
    """The backend to run; unavailable ones fall back to torch with a warning, never silently.
    ``auto``: tensorrt_rtx on an RTX GPU where it is installed; else tensorrt where it can run;
    else torch when the device is a GPU; else onnxruntime (faster than torch on CPU,
    bench/backends.py); else torch."""
    if backend not in BACKENDS + (AUTO,):
        raise ValueError(f"backend '{backend}' unknown (choose from {', '.join(BACKENDS + (AUTO,))})")
    if backend == AUTO:
        wants_gpu = not device.startswith("cpu")
        if wants_gpu and backend_unavailable_reason("tensorrt_rtx") is None:
            return "tensorrt_rtx"
        if backend_unavailable_reason("tensorrt") is None:
            return "tensorrt"
        gpu = device.startswith("cuda") or (device in ("", AUTO) and torch.cuda.is_available())
        if not gpu and backend_unavailable_reason("onnxruntime") is None:
            return "onnxruntime"
        return "torch"
    reason = backend_unavailable_reason(backend)
    if reason is not None:
        warn(f"backend '{backend}' is not available here ({reason}); falling back to 'torch'")
        return "torch"
    return backend


class Runtime:
    """One loaded network shared by every stream; each stream gets its own runner and session.

    ``backend`` must be one that runs here (``open`` picks one): otherwise this raises with
    the reason. Options: ``onnx_file`` (an exported step; default: export the checkpoint once
    into the cache), ``cache_dir`` (exported steps and engines; default ~/.cache/ausm),
    ``force_rebuild`` (rebuild the TensorRT engine even when cached), ``input_size`` (H, W,
    for configs without a fixed input size), ``build_only`` (tensorrt, tensorrt_rtx: build or
    find the engine and stop; nothing runs, ``engine_path`` says where it is; tensorrt_rtx
    needs no GPU for it), ``engine_targets`` (tensorrt_rtx: compute capabilities to build
    for, e.g. "8.6,12.0"; default: this GPU's, or all targets without one)."""

    def __init__(
        self,
        checkpoint: PathLike,
        device: str = "cpu",
        num_threads: int = 0,
        backend: str = "torch",
        onnx_file: PathLike = "",
        cache_dir: PathLike = "",
        force_rebuild: bool = False,
        input_size: Optional[Sequence[int]] = None,
        build_only: bool = False,
        warn: Warn = log.warning,
        engine_targets: str = "",
    ):
        if backend not in BACKENDS:
            raise ValueError(f"backend '{backend}' unknown (choose from {', '.join(BACKENDS)})")
        if num_threads > 0:
            torch.set_num_threads(num_threads)
        self.checkpoint = os.fspath(checkpoint)
        self.backend = backend
        self.engine_path: Optional[Path] = None
        if backend == "onnxruntime" and device != "cpu":
            warn(f"backend 'onnxruntime' runs on the CPU (device '{device}' is used by torch only)")
            device = "cpu"
        if backend == "tensorrt":
            from ..export.tensorrt_support import import_tensorrt, require_cuda_torch

            import_tensorrt()  # before anything is loaded: fail with what is missing
            require_cuda_torch()
            device = "cuda"
        if backend == "tensorrt_rtx":
            from ..export.tensorrt_rtx import import_tensorrt_rtx
            from ..export.tensorrt_support import require_cuda_torch

            import_tensorrt_rtx()  # before anything is loaded: fail with what is missing
            if not build_only:  # the ahead-of-time build itself needs no GPU
                require_cuda_torch()
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        self.model = load_checkpoint(self.checkpoint, device=device).eval()
        self.config = self.model.config
        self.class_head: str = next(iter(self.config.num_classes))
        names = self.config.class_names or {}
        self.class_names: List[str] = list(names.get(self.class_head, []))
        hw = tuple(input_size) if input_size and all(input_size) else None
        cache = Path(cache_dir).expanduser() if cache_dir else None
        self._new_runner: Optional[Callable[[], StepRunner]] = None
        if backend == "torch":
            from .torch_runner import TorchStepRunner

            runner = TorchStepRunner(self.model)  # holds no per-stream state: shared
            self._new_runner = lambda: runner
        elif backend == "onnxruntime":
            self._new_runner = self._onnxruntime(onnx_file, cache, hw, num_threads)
        elif backend == "tensorrt":
            self._new_runner = self._tensorrt(onnx_file, cache, hw, force_rebuild, build_only)
        elif backend == "tensorrt_rtx":
            self._new_runner = self._tensorrt_rtx(onnx_file, cache, hw, force_rebuild, build_only, engine_targets)

    def new_runner(self) -> StepRunner:
        """The runner for one more stream (TensorRT: a context and buffers of its own)."""
        if self._new_runner is None:
            raise RuntimeError("this runtime was made with build_only: it runs no streams")
        return self._new_runner()

    def new_session(self, settings=None, **overrides):
        """A StreamSession (ausm.session) for one more stream."""
        from ..session import StreamSession

        return StreamSession(self.new_runner(), settings, **overrides)

    # -- backends ------------------------------------------------------------------
    def _onnx_source(self, onnx_file, cache, hw):
        """The exported step: a path (given, or exported once from this checkpoint into the
        cache), or, when the input size is known only at the first frame, a callable
        hw -> path that exports for that size."""
        from ..export.onnx_cache import cached_step_onnx

        if onnx_file:
            return Path(onnx_file).expanduser()
        cpu_model = self.model if self.device == "cpu" else copy.deepcopy(self.model).cpu()
        export = functools.partial(cached_step_onnx, cpu_model, cache_dir=cache / "onnx" if cache else None)
        size = hw or self.config.input_size
        return export(size) if size else export

    def _onnxruntime(self, onnx_file, cache, hw, num_threads):
        from .onnxruntime_runner import OnnxRuntimeStepRunner

        # one runner serves every stream: it holds no per-stream state
        runner = OnnxRuntimeStepRunner(self.model, self._onnx_source(onnx_file, cache, hw), num_threads=num_threads)
        return lambda: runner

    def _fixed_size_onnx(self, onnx_file, cache, hw, what):
        onnx_path = self._onnx_source(onnx_file, cache, hw)
        if callable(onnx_path):
            raise ValueError(
                f"config '{self.config.name}' has no fixed input size: give input_size (H, W) to build the "
                f"{what} engine for"
            )
        return onnx_path

    def _tensorrt(self, onnx_file, cache, hw, force_rebuild, build_only):
        from ..export.tensorrt_builder import build_engine
        from .tensorrt_runner import TensorRTEngine

        onnx_path = self._fixed_size_onnx(onnx_file, cache, hw, "TensorRT")
        engines = cache / "engines" if cache else cache_root() / "engines"
        result = build_engine(onnx_path, cache_dir=engines, force_rebuild=force_rebuild)
        self.engine_path = result.path
        if build_only:
            return None
        # a runner (execution context + two state buffer sets on the GPU) per stream
        return TensorRTEngine(result.path, self.model).new_runner

    def _tensorrt_rtx(self, onnx_file, cache, hw, force_rebuild, build_only, targets):
        from ..export.step_io import io_contract
        from ..export.tensorrt_rtx import build_rtx_engine, check_engine_io, visible_gpu
        from .tensorrt_rtx_runner import TensorRTRtxEngine

        onnx_path = self._fixed_size_onnx(onnx_file, cache, hw, "TensorRT-RTX")
        engines = cache / "engines" if cache else cache_root() / "engines"
        gpu = visible_gpu()
        # any cached engine of this model whose targets include this GPU serves it (e.g. one
        # built for all targets by the CLI); when none, build for this GPU only
        result = build_rtx_engine(
            onnx_path,
            cache_dir=engines,
            targets=targets or None,
            force_rebuild=force_rebuild,
            for_cc=gpu[1] if gpu and not targets else None,
        )
        self.engine_path = result.path
        # the engine must bind exactly what this model's step produces and consumes (an
        # engine from another export of the same file name would otherwise fail mid-stream)
        check_engine_io(result.io, io_contract(self.model, result.key.input_hw))
        if build_only:
            return None
        return TensorRTRtxEngine(result.path, self.model).new_runner


def open(  # ausm.runtimes.open, as tarfile.open: shadows the builtin in this module only
    checkpoint: Optional[PathLike] = "",
    backend: str = AUTO,
    device: str = AUTO,
    *,
    num_threads: int = 0,
    onnx_file: PathLike = "",
    cache_dir: PathLike = "",
    force_rebuild: bool = False,
    input_size: Optional[Sequence[int]] = None,
    build_only: bool = False,
    engine_targets: str = "",
    warn: Warn = log.warning,
) -> Runtime:
    """Load ``checkpoint`` ('' = the bundled demo) for ``backend`` (one of BACKENDS or
    'auto') on ``device`` ('auto', 'cpu', 'cuda', 'cuda:1', ...). A device or backend that
    cannot run here falls back (CUDA -> cpu, any backend -> torch) with a ``warn`` call that
    says why; ``Runtime.backend`` and ``Runtime.device`` say what runs. Options as ``Runtime``."""
    if device.startswith("cuda"):
        device = resolve_device(device, warn)  # no CUDA here: cpu, said before picking a backend
    backend = resolve_backend(backend, warn, device)
    return Runtime(
        resolve_checkpoint(checkpoint),
        resolve_device(device, warn),
        num_threads,
        backend=backend,
        onnx_file=onnx_file,
        cache_dir=cache_dir,
        force_rebuild=force_rebuild,
        input_size=input_size,
        build_only=build_only,
        warn=warn,
        engine_targets=engine_targets,
    )
