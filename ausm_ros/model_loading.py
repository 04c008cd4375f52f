"""Checkpoint and backend selection for the node: which model, on which device, through what runtime.

Backends (node parameter ``backend``):
  * ``torch``: AUSM.step in PyTorch, on ``device``.
  * ``onnxruntime``: the exported step (``onnx_file``, or exported once from the checkpoint
    into the cache) on CPU; about 3-4x faster than torch on CPU for the tiny config
    (bench/backends.py).
  * ``tensorrt``: an engine built from the same ONNX file on this GPU, cached on disk
    (``engine_cache_dir``, ``force_rebuild``); each stream's state stays on the GPU.
    Full TensorRT: Jetson (JetPack) and data-center GPUs.
  * ``tensorrt_rtx``: TensorRT for RTX (PyPI wheels), desktop RTX / workstation GPUs
    (compute capability 8.0, 8.6, 8.9, 12.x); the engine is built ahead of time (no GPU
    needed: ``python -m ausm.export.tensorrt_rtx``) or at first start when missing, and
    its JIT kernels are kept in a runtime cache beside it.
  * ``auto``: tensorrt_rtx on an RTX GPU where it is installed; else tensorrt when it can
    run here; else torch on a GPU; else onnxruntime.
A backend that cannot run here (package missing, no GPU) falls back to torch with a
warning, never silently. Whatever the backend, sessions are the same StreamSession
(prompts, IDs, results); only the per-frame computation differs.
"""

import copy
import functools
import logging
import os
from pathlib import Path

import torch

from ausm.checkpoint import load_checkpoint
from ausm.export.onnx_cache import cache_root
from ausm.session import SessionSettings, StreamSession

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnxruntime", "tensorrt", "tensorrt_rtx")
AUTO = "auto"


def resolve_checkpoint(path):
    """'' means the bundled demo checkpoint; anything else must exist."""
    if not path:
        import ausm

        bundled = Path(ausm.__file__).resolve().parent / "checkpoints" / "demo_tiny.safetensors"
        if not bundled.exists():
            raise FileNotFoundError(
                f"the bundled demo checkpoint is missing ({bundled}); "
                "set the 'checkpoint' parameter to a .safetensors file"
            )
        return str(bundled)
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint '{path}' does not exist")
    return path


def resolve_device(device):
    if device in ("", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device '{device}' requested but CUDA is not available to PyTorch")
    return device


def backend_unavailable_reason(backend):
    """None when ``backend`` can run on this machine, else why not."""
    if backend == "onnxruntime":
        from ausm.runtimes.onnxruntime_runner import OnnxRuntimeUnavailable, import_onnxruntime

        try:
            import_onnxruntime()
        except OnnxRuntimeUnavailable as e:
            return str(e)
    elif backend == "tensorrt":
        from ausm.export.tensorrt_support import TensorRTUnavailable, import_tensorrt, require_cuda_torch

        try:
            import_tensorrt()
            require_cuda_torch()
        except TensorRTUnavailable as e:
            return str(e)
    elif backend == "tensorrt_rtx":
        from ausm.export.tensorrt_rtx import import_tensorrt_rtx, is_rtx_target
        from ausm.export.tensorrt_support import TensorRTUnavailable, require_cuda_torch

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


def resolve_backend(backend, warn, device="auto"):
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
        gpu = device.startswith("cuda") or (device in ("", "auto") and torch.cuda.is_available())
        if not gpu and backend_unavailable_reason("onnxruntime") is None:
            return "onnxruntime"
        return "torch"
    reason = backend_unavailable_reason(backend)
    if reason is not None:
        warn(f"backend '{backend}' is not available here ({reason}); falling back to 'torch'")
        return "torch"
    return backend


class ModelHandle:
    """One loaded network shared by every stream; each stream gets its own session (state).

    ``backend`` is a resolved backend (``resolve_backend``). Options: ``onnx_file`` (an
    exported step; default: export the checkpoint once into the cache), ``cache_dir``
    (exported steps and engines; default ~/.cache/ausm), ``force_rebuild`` (rebuild the
    TensorRT engine even when cached), ``input_size`` (H, W, for configs without a fixed
    input size), ``build_only`` (tensorrt, tensorrt_rtx: build or find the engine and stop;
    nothing runs, ``engine_path`` says where it is; tensorrt_rtx needs no GPU for it),
    ``engine_targets`` (tensorrt_rtx: compute capabilities to build for, e.g. "8.6,12.0";
    default: this GPU's, or all targets without one)."""

    def __init__(
        self,
        checkpoint,
        device,
        num_threads=0,
        backend="torch",
        onnx_file="",
        cache_dir="",
        force_rebuild=False,
        input_size=None,
        build_only=False,
        warn=log.warning,
        engine_targets="",
    ):
        if backend not in BACKENDS:
            raise ValueError(f"backend '{backend}' unknown (choose from {', '.join(BACKENDS)})")
        if num_threads > 0:
            torch.set_num_threads(num_threads)
        self.checkpoint = checkpoint
        self.backend = backend
        self.engine_path = None
        if backend == "onnxruntime" and device != "cpu":
            warn(f"backend 'onnxruntime' runs on the CPU (device '{device}' is used by torch only)")
            device = "cpu"
        if backend == "tensorrt":
            from ausm.export.tensorrt_support import import_tensorrt, require_cuda_torch

            import_tensorrt()  # before anything is loaded: fail with what is missing
            require_cuda_torch()
            device = "cuda"
        if backend == "tensorrt_rtx":
            from ausm.export.tensorrt_rtx import import_tensorrt_rtx
            from ausm.export.tensorrt_support import require_cuda_torch

            import_tensorrt_rtx()  # before anything is loaded: fail with what is missing
            if not build_only:  # the ahead-of-time build itself needs no GPU
                require_cuda_torch()
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        self.model = load_checkpoint(checkpoint, device=device).eval()
        self.config = self.model.config
        self.class_head = next(iter(self.config.num_classes))
        names = getattr(self.config, "class_names", None) or {}
        self.class_names = list(names.get(self.class_head, []))
        hw = tuple(input_size) if input_size and all(input_size) else None
        cache = Path(cache_dir).expanduser() if cache_dir else None
        self._new_runner = None
        if backend == "onnxruntime":
            self._new_runner = self._onnxruntime(onnx_file, cache, hw, num_threads)
        elif backend == "tensorrt":
            self._new_runner = self._tensorrt(onnx_file, cache, hw, force_rebuild, build_only)
        elif backend == "tensorrt_rtx":
            self._new_runner = self._tensorrt_rtx(onnx_file, cache, hw, force_rebuild, build_only, engine_targets)

    def _onnx_source(self, onnx_file, cache, hw):
        """The exported step: a path (given, or exported once from this checkpoint into the
        cache), or, when the input size is known only at the first frame, a callable
        hw -> path that exports for that size."""
        from ausm.export.onnx_cache import cached_step_onnx

        if onnx_file:
            return Path(onnx_file).expanduser()
        cpu_model = self.model if self.device == "cpu" else copy.deepcopy(self.model).cpu()
        export = functools.partial(cached_step_onnx, cpu_model, cache_dir=cache / "onnx" if cache else None)
        size = hw or self.config.input_size
        return export(size) if size else export

    def _onnxruntime(self, onnx_file, cache, hw, num_threads):
        from ausm.runtimes.onnxruntime_runner import OnnxRuntimeStepRunner

        # one runner serves every stream: it holds no per-stream state
        runner = OnnxRuntimeStepRunner(self.model, self._onnx_source(onnx_file, cache, hw), num_threads=num_threads)
        return lambda: runner

    def _tensorrt(self, onnx_file, cache, hw, force_rebuild, build_only):
        from ausm.export.tensorrt_builder import build_engine
        from ausm.runtimes.tensorrt_runner import TensorRTEngine

        onnx_path = self._onnx_source(onnx_file, cache, hw)
        if callable(onnx_path):
            raise ValueError(
                f"config '{self.config.name}' has no fixed input size: set the node's "
                "input_size (H, W) to build the TensorRT engine for"
            )
        engines = cache / "engines" if cache else cache_root() / "engines"
        result = build_engine(onnx_path, cache_dir=engines, force_rebuild=force_rebuild)
        self.engine_path = result.path
        if build_only:
            return None
        # a runner (execution context + two state buffer sets on the GPU) per stream
        return TensorRTEngine(result.path, self.model).new_runner

    def _tensorrt_rtx(self, onnx_file, cache, hw, force_rebuild, build_only, targets):
        from ausm.export.tensorrt_rtx import build_rtx_engine, visible_gpu
        from ausm.runtimes.tensorrt_rtx_runner import TensorRTRtxEngine

        onnx_path = self._onnx_source(onnx_file, cache, hw)
        if callable(onnx_path):
            raise ValueError(
                f"config '{self.config.name}' has no fixed input size: set the node's "
                "input_size (H, W) to build the TensorRT-RTX engine for"
            )
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
        from ausm.export.step_io import io_contract
        from ausm.export.tensorrt_rtx import check_engine_io

        check_engine_io(result.io, io_contract(self.model, result.key.input_hw))
        if build_only:
            return None
        engine = TensorRTRtxEngine(result.path, self.model)
        return engine.new_runner

    def new_session(self, settings: SessionSettings):
        if self._new_runner is None:
            if self.backend != "torch":
                raise RuntimeError("this handle was made with build_only: it runs no streams")
            return StreamSession(self.model, settings)
        from ausm.runtimes import stream_session

        return stream_session(self.model, self._new_runner(), settings)
