"""TensorRT engine cache and builder logic that needs no TensorRT: the cache key, hits
and rebuilds, the fp32 pinning rule of the SSM region, and what the parser is given."""

import dataclasses
import json
from types import SimpleNamespace

import onnx
import onnxruntime as ort
import pytest
import torch

from ausm import build_model
from ausm.export import ssm_op
from ausm.export.engine_cache import EngineCache, EngineKey, build_or_load, read_sidecar
from ausm.export.onnx_export import export_step
from ausm.export.tensorrt_builder import pin_ssm_region_fp32, prepare_onnx, resolve_plugin
from ausm.export.tensorrt_support import PLUGIN_ENV, find_plugin_library

pytestmark = pytest.mark.export

KEY = EngineKey(
    model_sha256="ab" * 32,
    tensorrt_version="10.3.0",
    gpu_name="Orin (nvgpu)",
    compute_capability="8.7",
    input_hw=(192, 256),
    precision="fp16",
)


def test_key_covers_every_field():
    variants = [
        dict(model_sha256="cd" * 32),
        dict(tensorrt_version="10.3.1"),
        dict(gpu_name="NVIDIA H100 80GB HBM3"),
        dict(compute_capability="9.0"),
        dict(input_hw=(480, 640)),
        dict(precision="fp32"),
        dict(plugin_sha256="ef" * 32),
        dict(builder_version=KEY.builder_version + 1),
    ]
    digests = {KEY.digest()} | {dataclasses.replace(KEY, **v).digest() for v in variants}
    assert len(digests) == len(variants) + 1
    assert EngineKey.from_dict(json.loads(json.dumps(KEY.to_dict()))) == KEY  # survives JSON
    name = KEY.filename()
    assert name.startswith("orin-nvgpu-sm87-192x256-fp16-trt10.3.0-") and name.endswith(".engine")


def test_cache_hits_rebuilds_and_forced_rebuilds(tmp_path):
    builds = []
    build = lambda: builds.append(1) or b"engine-%d" % len(builds)
    cache = EngineCache(directory=tmp_path)
    meta = {"ausm.format": "x"}
    path, built = build_or_load(KEY, cache, build, meta)
    assert built and path.read_bytes() == b"engine-1" and read_sidecar(path)["key"] == KEY.to_dict()
    assert build_or_load(KEY, cache, build, meta) == (path, False) and len(builds) == 1
    path2, built = build_or_load(KEY, cache, build, meta, force_rebuild=True)
    assert built and path2 == path and path.read_bytes() == b"engine-2"
    other = dataclasses.replace(KEY, tensorrt_version="10.4.0")
    path3, built = build_or_load(other, cache, build, meta)
    assert built and path3 != path and path.exists()  # a new TensorRT: a new engine beside the old
    assert not list(tmp_path.glob("*.tmp*"))


def test_explicit_engine_file_is_rebuilt_when_its_key_differs(tmp_path):
    target = tmp_path / "step.engine"
    cache = EngineCache(engine_path=target)
    build_or_load(KEY, cache, lambda: b"one", {})
    other = dataclasses.replace(KEY, gpu_name="NVIDIA A100")
    _, built = build_or_load(other, cache, lambda: b"two", {})
    assert built and target.read_bytes() == b"two"
    (tmp_path / "step.engine.json").write_text("{ not json")  # a damaged sidecar never hits
    _, built = build_or_load(other, cache, lambda: b"three", {})
    assert built and target.read_bytes() == b"three"


class FakeTensor(SimpleNamespace):
    pass


class FakeLayer:
    def __init__(self, name, dtypes):
        self.name, self._outs = name, [FakeTensor(dtype=d) for d in dtypes]
        self.precision, self.output_types = None, {}
        self.num_outputs = len(dtypes)

    def get_output(self, j):
        return self._outs[j]

    def set_output_type(self, j, dtype):
        self.output_types[j] = dtype


FAKE_TRT = SimpleNamespace(float32="f32", float16="f16", int64="i64", bool="b")


def test_ssm_region_layers_are_pinned_to_fp32():
    layers = [
        FakeLayer("/backbone/stem/Conv", ["f32"]),
        FakeLayer("/ssm_step/in_proj/MatMul", ["f32"]),
        FakeLayer("/ssm_step_1/SelectiveStateUpdate/Exp_17", ["f32"]),
        FakeLayer("/ssm_step/Shape", ["i64"]),  # not a float: left alone
        FakeLayer("/ssm_step_1/SelectiveStateUpdate", ["f32", "f32"]),  # the plugin layer
        FakeLayer("/mask_decoder/cross_attn.0/MatMul", ["f16"]),
    ]
    net = SimpleNamespace(num_layers=len(layers), get_layer=lambda i: layers[i])
    assert pin_ssm_region_fp32(net, FAKE_TRT) == 3
    assert [l.precision for l in layers] == [None, "f32", "f32", None, "f32", None]
    assert layers[4].output_types == {0: "f32", 1: "f32"} and layers[3].output_types == {}
    with pytest.raises(RuntimeError, match="SSM region"):
        pin_ssm_region_fp32(SimpleNamespace(num_layers=1, get_layer=lambda i: layers[0]), FAKE_TRT)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("tiny", input_size=[64, 96]).eval()
    return export_step(model, tmp_path_factory.mktemp("trt") / "s.onnx", progress=False).path


def test_parser_input_with_and_without_plugin(exported):
    model = onnx.load(str(exported))
    with_plugin = prepare_onnx(model, use_plugin=True)
    assert not with_plugin.functions and len(ssm_op.ssm_nodes(with_plugin)) == 2
    expanded = prepare_onnx(model, use_plugin=False)
    assert not ssm_op.ssm_nodes(expanded) and not expanded.functions
    onnx.checker.check_model(expanded, full_check=True)
    # the expanded ops keep the region's name (what the fp32 pinning keys on) ...
    body = [n for n in expanded.graph.node if "/SelectiveStateUpdate/" in n.name]
    assert len(body) == 2 * len(ssm_op.function_proto().node)
    assert all("ssm_step" in n.name for n in body)
    # ... and compute exactly what the function computes
    feeds = {}
    s1 = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    s2 = ort.InferenceSession(expanded.SerializeToString(), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(0)
    for i in s1.get_inputs():
        shape = [int(d) for d in i.shape]
        feeds[i.name] = (
            torch.arange(shape[1])[None].numpy()
            if i.type == "tensor(int64)"
            else (torch.rand(shape, generator=g) > 0.5).numpy()
            if i.type == "tensor(bool)"
            else torch.rand(shape, generator=g).numpy()
        )
    for a, b in zip(s1.run(None, feeds), s2.run(None, feeds)):
        assert (a == b).all()


def test_plugin_resolution(tmp_path, monkeypatch):
    assert resolve_plugin("none") is None
    with pytest.raises(FileNotFoundError):
        resolve_plugin(str(tmp_path / "missing.so"))
    lib = tmp_path / "libausm_trt_plugin.so"
    lib.write_bytes(b"\x7fELF")
    monkeypatch.setenv(PLUGIN_ENV, str(lib))
    assert find_plugin_library() == lib and resolve_plugin("auto") == lib
