"""Backend selection (ausm.runtimes): onnxruntime and tensorrt are selectable, unavailable ones
fall back to torch with a warning, and an onnxruntime handle serves streams whose results
equal the torch handle's."""

import importlib.util

import numpy as np
import pytest
import torch

from ausm import build_model
from ausm.checkpoint import save_checkpoint
from ausm.export.tensorrt_support import TensorRTUnavailable
from ausm.runtimes import Runtime, resolve_backend
from ausm.session import SessionSettings
from bench.runtime_parity import moving_shapes

HAVE_TRT = importlib.util.find_spec("tensorrt") is not None


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("tiny", input_size=[64, 96])
    return save_checkpoint(model, tmp_path_factory.mktemp("ck") / "tiny.safetensors")


def test_resolve_backend():
    warnings = []
    assert resolve_backend("torch", warnings.append) == "torch"
    assert resolve_backend("onnxruntime", warnings.append) == "onnxruntime"
    assert warnings == []
    with pytest.raises(ValueError, match="unknown"):
        resolve_backend("openvino", warnings.append)


@pytest.mark.skipif(HAVE_TRT, reason="TensorRT is installed: no fallback to observe")
def test_tensorrt_falls_back_to_torch_with_a_warning(checkpoint):
    warnings = []
    assert resolve_backend("tensorrt", warnings.append) == "torch"
    assert len(warnings) == 1 and "tensorrt" in warnings[0] and "falling back to 'torch'" in warnings[0]
    assert resolve_backend("auto", warnings.append, "cpu") == "onnxruntime" and len(warnings) == 1
    assert resolve_backend("auto", warnings.append, "cuda") == "torch"  # a GPU without TensorRT
    with pytest.raises(TensorRTUnavailable):  # asked directly, the handle says why
        Runtime(str(checkpoint), "cpu", backend="tensorrt")


@pytest.mark.export
def test_onnxruntime_handle_matches_torch_handle(checkpoint, tmp_path):
    settings = SessionSettings(discovery=True)
    ref = Runtime(str(checkpoint), "cpu")
    handle = Runtime(str(checkpoint), "cpu", backend="onnxruntime", cache_dir=str(tmp_path), num_threads=2)
    exported = list((tmp_path / "onnx").glob("*.onnx"))
    assert len(exported) == 1 and handle.backend == "onnxruntime"
    a, b, c = ref.new_session(settings), handle.new_session(settings), handle.new_session(settings)
    for t in range(4):
        f = moving_shapes(t, (64, 96))
        ra, rb = a.step(f), b.step(f)
        assert np.array_equal(ra.track_ids, rb.track_ids)
        assert all((x == y).mean() > 0.99 for x, y in zip(ra.masks, rb.masks))
    assert c.frame_index == 0  # streams are independent
    # a second start reuses the exported file instead of exporting again
    mtime = exported[0].stat().st_mtime_ns
    Runtime(str(checkpoint), "cpu", backend="onnxruntime", cache_dir=str(tmp_path))
    assert [p.stat().st_mtime_ns for p in (tmp_path / "onnx").glob("*.onnx")] == [mtime]
