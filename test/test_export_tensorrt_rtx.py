"""TensorRT for RTX, as far as it goes without a GPU: a real engine built ahead of time
from the exported step of the bundled checkpoint (whatever its backbone and input size),
its I/O checked against the step's contract (every state fp32), builds for an explicit
list of target capabilities, the build-only CLI, the engine cache (hits, per-target
lookups, atomic files), and the runtime up to the GPU: target check, I/O check, runtime
cache load/save and a whole session on a fake execution context."""

import dataclasses
import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.tensorrt import FakeContext

from ausm.checkpoint import load_checkpoint
from ausm.export import tensorrt_rtx as rtx
from ausm.export.engine_cache import read_sidecar
from ausm.export.step_io import STATE_IN, STATE_OUT, StepSpec, io_contract
from ausm.export.tensorrt_support import TensorRTUnavailable
from ausm.runtimes import Runtime, resolve_backend, resolve_checkpoint
from ausm.session import StreamSession
from bench.runtime_parity import moving_shapes

pytestmark = pytest.mark.export

ROOT = Path(__file__).resolve().parents[1]
trt = pytest.importorskip(
    "tensorrt_rtx_bindings",
    reason="TensorRT for RTX is not installed (pip install tensorrt-rtx-cu12-libs tensorrt-rtx-cu12-bindings)",
)


@pytest.fixture(scope="module")
def bundled():
    return resolve_checkpoint("")


def input_size_for(checkpoint):
    """None when the checkpoint's config fixes its input size (the engine is built for it),
    else a size to build for: whatever checkpoint is bundled must build."""
    return None if load_checkpoint(checkpoint).config.input_size else (128, 160)


@pytest.fixture(scope="module")
def built(bundled, tmp_path_factory):
    """The bundled checkpoint exported and built (all default targets) by the node's own
    first-start path, with build_only: no GPU is involved."""
    cache = tmp_path_factory.mktemp("rtx_cache")
    t0 = time.perf_counter()
    handle = Runtime(
        bundled,
        "cpu",
        backend="tensorrt_rtx",
        cache_dir=str(cache),
        build_only=True,
        input_size=input_size_for(bundled),
    )
    seconds = time.perf_counter() - t0
    path = Path(handle.engine_path)
    meta = read_sidecar(path)
    # the build time and size land in CI's log (the README's figures come from here)
    print(
        f"\nTensorRT-RTX {trt.__version__}: {path.name} {path.stat().st_size / 2**20:.1f} MiB, "
        f"build {meta['build_seconds']:.1f} s (export + build {seconds:.1f} s)"
    )
    return handle, cache, path, meta


def contract_of(handle, meta):
    spec = StepSpec.from_metadata(meta["step"])
    return io_contract(handle.model, spec.input_hw)


def io_of(meta):
    return {k: (tuple(v[0]), v[1], v[2]) for k, v in meta["io"].items()}


def test_engine_io_matches_the_step_contract(built):
    handle, cache, path, meta = built
    assert path.parent == cache / "engines" and path.stat().st_size > 1 << 20
    assert meta["engine_bytes"] == path.stat().st_size
    key = rtx.RtxEngineKey.from_dict(meta["key"])
    assert key.targets == rtx.DEFAULT_TARGETS and key.tensorrt_rtx_version == trt.__version__
    assert tuple(key.input_hw) == tuple(handle.config.input_size or key.input_hw)
    io, contract = io_of(meta), contract_of(handle, meta)
    rtx.check_engine_io(io, contract)  # names, shapes, dtypes, direction
    assert io == contract
    states = [n for n in io if n.startswith((STATE_IN, STATE_OUT))]
    assert len(states) == 2 * len(handle.model.state_names())
    assert all(io[n][1] == "float32" for n in states)
    assert not list(path.parent.glob("*.tmp*"))  # atomic writes leave nothing behind


def test_io_check_names_every_difference(built):
    handle, _, _, meta = built
    contract = contract_of(handle, meta)
    io = dict(contract)
    first_state = next(n for n in io if n.startswith(STATE_IN))
    io[first_state] = (io[first_state][0], "float16", True)  # a state in fp16
    io["mask_logits"] = ((1, 1, 1, 1), "float32", False)  # a wrong shape
    del io["id_valid"]  # a missing input
    io["extra"] = ((1,), "float32", False)
    with pytest.raises(ValueError) as e:
        rtx.check_engine_io(io, contract)
    msg = str(e.value)
    for part in ("missing id_valid", "unexpected extra", "mask_logits", "must be float32"):
        assert part in msg


def test_explicit_targets_with_the_build_only_cli(built):
    handle, cache, default_engine, meta = built
    onnx_path = next((cache / "onnx").glob("*.onnx"))
    out = cache / "explicit"
    cmd = [
        sys.executable,
        "-m",
        "ausm.export.tensorrt_rtx",
        "--onnx",
        str(onnx_path),
        "--out",
        str(out),
        "--targets",
        "12.0,8.6",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "built in" in proc.stdout and "compute capabilities 8.6, 12.0" in proc.stdout
    engine = next(out.glob("*.engine"))
    assert "-sm86-120-" in engine.name
    meta2 = read_sidecar(engine)
    assert meta2["key"]["targets"] == ["8.6", "12.0"]
    rtx.check_engine_io(io_of(meta2), contract_of(handle, meta))
    # the same request again is a cache hit: nothing rebuilt, the file untouched
    mtime = engine.stat().st_mtime_ns
    res = rtx.build_rtx_engine(onnx_path, cache_dir=out, targets=["8.6", "12.0"])
    assert not res.built and res.path == engine and engine.stat().st_mtime_ns == mtime
    # a GPU of capability 8.9 is served by the all-targets engine, 8.6 by either, 9.0 by none
    key = rtx.RtxEngineKey.from_dict(meta["key"])
    assert rtx.find_cached(default_engine.parent, key, "8.9") == default_engine
    assert rtx.find_cached(out, key, "8.6") == engine
    assert rtx.find_cached(out, key, "8.9") is None and rtx.find_cached(out, key, "12.1") is None
    other_model = dataclasses.replace(key, model_sha256="0" * 64)
    assert rtx.find_cached(default_engine.parent, other_model, "8.9") is None


def test_second_start_reuses_the_engine(built, bundled):
    handle, cache, path, _ = built
    mtime = path.stat().st_mtime_ns
    again = Runtime(
        bundled,
        "cpu",
        backend="tensorrt_rtx",
        cache_dir=str(cache),
        build_only=True,
        input_size=input_size_for(bundled),
    )
    assert Path(again.engine_path) == path and path.stat().st_mtime_ns == mtime
    with pytest.raises(RuntimeError, match="build_only"):
        again.new_session(None)


def test_targets_and_keys():
    assert rtx.parse_targets("sm86, 12.0,8.6") == ("8.6", "12.0")
    assert rtx.parse_targets(None, "8.9") == ("8.9",)  # this GPU when it is a target
    assert rtx.parse_targets(None, "9.0") == rtx.DEFAULT_TARGETS  # Hopper: build for the targets
    assert rtx.parse_targets("all") == rtx.DEFAULT_TARGETS and "7.5" not in rtx.DEFAULT_TARGETS
    assert rtx.normalize_cc("120") == "12.0" and rtx.normalize_cc((8, 9)) == "8.9"
    for bad in ("9.0", "8.7"):
        with pytest.raises(ValueError, match="full TensorRT"):
            rtx.parse_targets(bad)
    with pytest.raises(TensorRTUnavailable, match="GPU"):
        rtx.parse_targets("current", None)
    key = rtx.RtxEngineKey("ab" * 32, "1.7.1.116", ("8.6", "12.0"), (128, 128))
    variants = [
        dict(model_sha256="cd" * 32),
        dict(tensorrt_rtx_version="1.8.0"),
        dict(targets=("8.6",)),
        dict(input_hw=(480, 640)),
        dict(builder_version=key.builder_version + 1),
    ]
    assert len({key.digest()} | {dataclasses.replace(key, **v).digest() for v in variants}) == 6
    assert rtx.RtxEngineKey.from_dict(json.loads(json.dumps(key.to_dict()))) == key
    p = rtx.runtime_cache_path("/c/x.engine", "NVIDIA GeForce RTX 4090", "8.9")
    assert p.name == "x.engine.nvidia-geforce-rtx-4090-sm89.rtcache"


# -- the runtime, up to the GPU ------------------------------------------------------------------


class FakeCuda:
    """torch.cuda of a machine with one GPU of the given name and capability."""

    def __init__(self, name, cc):
        self.name, self.cc = name, cc

    def is_available(self):
        return True

    def get_device_name(self, i=0):
        return self.name

    def get_device_capability(self, i=0):
        return self.cc

    def device(self, d):
        import contextlib

        return contextlib.nullcontext()

    def current_stream(self, d=None):
        return types.SimpleNamespace(cuda_stream=0, synchronize=lambda: None)


class FakeTorch:
    """Real torch with a fake CUDA whose 'device' is CPU memory (the runner's buffers)."""

    def __init__(self, cuda):
        self.cuda = cuda

    def device(self, *args):
        return torch.device("cpu")

    def __getattr__(self, name):
        return getattr(torch, name)


class FakeRuntimeCache:
    def __init__(self, accept=True):
        self.accept, self.blob = accept, b""

    def deserialize(self, blob):
        if self.accept:
            self.blob = bytes(blob)
        return self.accept

    def serialize(self):
        return HostMemory(self.blob + b"+kernels")


class HostMemory:
    """Like trt.IHostMemory: nbytes and the buffer protocol's bytes()."""

    def __init__(self, data):
        self.data, self.nbytes = data, len(data)

    def __bytes__(self):
        return self.data


class FakeRtxEngine:
    """A deserialised engine: the I/O its sidecar records; contexts that run AUSM.step at
    the raw addresses bound (helpers.tensorrt.FakeContext)."""

    def __init__(self, io, owner_box, accept_cache=True):
        self._io, self.names = io, list(io)
        self.owner_box, self.accept_cache = owner_box, accept_cache
        self.runtime_configs = []

    num_io_tensors = property(lambda self: len(self.names))

    def get_tensor_name(self, i):
        return self.names[i]

    def get_tensor_shape(self, name):
        return self._io[name][0]

    def get_tensor_dtype(self, name):
        return {"float32": trt.float32, "int64": trt.int64, "int32": trt.int32, "bool": trt.bool}[self._io[name][1]]

    def get_tensor_mode(self, name):
        return trt.TensorIOMode.INPUT if self._io[name][2] else trt.TensorIOMode.OUTPUT

    def create_runtime_config(self):
        cache = FakeRuntimeCache(self.accept_cache)
        cfg = types.SimpleNamespace(cache=None, create_runtime_cache=lambda: cache)
        cfg.set_runtime_cache = lambda c: setattr(cfg, "cache", c)
        self.runtime_configs.append(cfg)
        return cfg

    def create_execution_context(self, runtime_config):
        assert runtime_config.cache is not None  # every context shares the runtime cache
        return FakeContext(self.owner_box[0])


def fake_trt_module(io, box, accept_cache=True):
    engine = FakeRtxEngine(io, box, accept_cache)

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, data):
            assert data[:4] == b"ENGN"
            return engine

    mod = types.SimpleNamespace(
        **{
            k: getattr(trt, k)
            for k in ("float32", "float16", "int32", "int8", "int64", "bool", "TensorIOMode", "Logger")
        }
    )
    mod.Runtime, mod.__version__ = Runtime, trt.__version__
    return mod, engine


@pytest.fixture
def fake_gpu_engine(built, tmp_path, monkeypatch):
    """A copy of the built engine's sidecar beside a stand-in engine file, and a GPU."""
    from ausm.runtimes import tensorrt_rtx_runner as runner_mod

    handle, _, path, meta = built
    engine_path = tmp_path / path.name
    engine_path.write_bytes(b"ENGN" + b"\0" * 60)
    (tmp_path / (path.name + ".json")).write_text(json.dumps(meta))

    def setup(gpu=("NVIDIA GeForce RTX 4090", (8, 9)), accept_cache=True, io=None):
        box = []
        mod, engine = fake_trt_module(io or io_of(meta), box, accept_cache)
        monkeypatch.setattr(runner_mod, "import_tensorrt_rtx", lambda: mod)
        monkeypatch.setattr(runner_mod, "require_cuda_torch", lambda: FakeTorch(FakeCuda(*gpu)))
        return engine_path, box, engine

    return handle, setup


def test_runtime_refuses_a_gpu_outside_the_targets(fake_gpu_engine):
    from ausm.runtimes.tensorrt_rtx_runner import TensorRTRtxEngine

    handle, setup = fake_gpu_engine
    engine_path, _, _ = setup(gpu=("NVIDIA H200", (9, 0)))
    with pytest.raises(rtx.TensorRTRtxUnavailable, match="Hopper"):
        TensorRTRtxEngine(engine_path, handle.model)


def test_runtime_checks_the_engine_against_its_sidecar(fake_gpu_engine, built):
    from ausm.runtimes.tensorrt_rtx_runner import TensorRTRtxEngine

    handle, setup = fake_gpu_engine
    io = io_of(built[3])
    name = next(n for n in io if n.startswith(STATE_OUT))
    io[name] = (io[name][0], "int32", False)
    engine_path, _, _ = setup(io=io)
    with pytest.raises(ValueError, match="must be float32"):
        TensorRTRtxEngine(engine_path, handle.model)


def test_runtime_session_and_runtime_cache(fake_gpu_engine):
    """A session through TensorRTRtxEngine equals the torch session; the runtime cache is
    written beside the engine after the first frame, read back at the next start, and a
    cache TensorRT-RTX rejects (another GPU) is replaced."""
    from ausm.runtimes.tensorrt_rtx_runner import TensorRTRtxEngine

    handle, setup = fake_gpu_engine
    model = handle.model
    engine_path, box, _ = setup()
    eng = TensorRTRtxEngine(engine_path, model)
    eng.executions = 0
    box.append(eng)
    assert eng.cc == "8.9" and not eng.cache_loaded and not eng.cache_path.exists()
    hw = tuple(eng.spec.input_hw)
    ref, sess = StreamSession(model), StreamSession(eng.new_runner())
    for t in range(3):
        f = moving_shapes(t, hw)
        a, b = ref.step(f), sess.step(f)
        assert np.array_equal(a.track_ids, b.track_ids) and np.array_equal(a.masks, b.masks)
        if t == 0:  # written after the first frame, atomically
            assert eng.cache_path.read_bytes() == b"+kernels"
            assert not list(engine_path.parent.glob("*.tmp*"))
    assert eng.executions == 3 and sess.runner.name == "tensorrt_rtx"
    assert eng.cache_path.name.endswith("nvidia-geforce-rtx-4090-sm89.rtcache")
    # the next start loads it
    engine_path, box, _ = setup()
    eng2 = TensorRTRtxEngine(engine_path, model)
    assert eng2.cache_loaded and eng2.runtime_cache.blob == b"+kernels"
    # a cache made elsewhere is rejected, and rewritten after the first frame
    engine_path, box, _ = setup(accept_cache=False)
    eng3 = TensorRTRtxEngine(engine_path, model)
    eng3.executions = 0
    box.append(eng3)
    assert not eng3.cache_loaded
    StreamSession(eng3.new_runner()).step(moving_shapes(0, hw))
    assert eng3.cache_path.read_bytes() == b"+kernels"


def test_auto_picks_tensorrt_rtx_on_an_rtx_gpu_only(monkeypatch):
    import ausm.export.tensorrt_support as support

    for gpu, want in (
        (("NVIDIA GeForce RTX 4090", (8, 9)), "tensorrt_rtx"),
        (("NVIDIA RTX PRO 6000 Blackwell", (12, 0)), "tensorrt_rtx"),
        (("NVIDIA H100 80GB HBM3", (9, 0)), "torch"),
    ):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i=0, cc=gpu[1]: cc)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0, n=gpu[0]: n)
        monkeypatch.setattr(
            support, "import_tensorrt", lambda: (_ for _ in ()).throw(TensorRTUnavailable("no full TensorRT here"))
        )
        warnings = []
        assert resolve_backend("auto", warnings.append, "cuda") == want, gpu
        assert warnings == []
    # asked for explicitly on a Hopper GPU: a warning that says why, then torch
    assert resolve_backend("tensorrt_rtx", warnings.append, "cuda") == "torch"
    assert "does not run on NVIDIA H100" in warnings[0]


# -- the SSM plugin and TensorRT-RTX -------------------------------------------------------------


def no_core_dump():
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_probe(onnx_path, cwd, *extra):
    """The probe in its own process (TensorRT-RTX may end it), in a scratch directory and
    with core dumps off, so an abort leaves nothing in the checkout."""
    cmd = [sys.executable, "-m", "ausm.export.tensorrt_rtx_plugin_probe", "--onnx", str(onnx_path), *extra]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd, env=env, preexec_fn=no_core_dump)


def test_a_plugin_cannot_take_part_in_a_tensorrt_rtx_build(built, tmp_path):
    """The README's finding, kept true by CI: TensorRT-RTX's network has no plugin layer, so
    the parser, having found and created a plugin for the SSM node, ends the process. If a
    later TensorRT-RTX passes this probe, this test fails: then build the fused plugin in."""
    onnx_path = next((built[1] / "onnx").glob("*.onnx"))
    assert not any(hasattr(trt.INetworkDefinition, n) for n in ("add_plugin_v3", "add_plugin_v2"))
    # unregistered: the parser looks the node up as a plugin and says it is not found
    proc = run_probe(onnx_path, tmp_path, "--no-register")
    assert proc.returncode == 1 and "Plugin not found" in proc.stdout, proc.stdout + proc.stderr
    # registered (an IPluginV3 made through TensorRT-RTX's own bindings: no ABI question)
    proc = run_probe(onnx_path, tmp_path)
    out = proc.stdout + proc.stderr
    assert "registered: True" in out and "parsing (" in out
    assert "parsed:" not in out and "built:" not in out, out
    assert proc.returncode != 0 and "terminate called" in out, out
